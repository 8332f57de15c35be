// Health-gated registration on a real 3-server ZooKeeper ensemble, read back as dubbo-go consumers read
// it: nodes exist exactly while SERVING (per export and for the whole server), drain and resume, the
// instance's revision follows the exports SERVING, close() unregisters before NOT_SERVING, a stale node
// of the same address is replaced.
import net from "node:net";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import t from "tap";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { loadProtoFiles } from "../../src/codec/proto-files.ts";
import { instancePath, parseInstanceJson } from "../../src/discovery/dubbo/service-instance.ts";
import type { RegistrationEvent } from "../../src/discovery/registration.ts";
import { digestId, Perm, ZooKeeperClient } from "../../src/discovery/zookeeper/index.ts";
import { tcpCheck } from "../../src/health/builtin-checks.ts";
import { HealthCheckRunner } from "../../src/health/checks.ts";
import { createTripleServer } from "../../src/host/triple-server.ts";
import { defineService } from "../../src/server/define-service.ts";
import {
  applicationProviders,
  eventually,
  fetchMetadata,
  interfaceProviders,
} from "../fixtures/dubbo-consumer.ts";
import { rejection } from "../fixtures/zookeeper-client.ts";
import { needsZooKeeper, startEnsemble } from "../fixtures/zookeeper-ensemble.ts";

const greetRoot = loadProtoFiles("greet.proto");
// MetadataServiceV2 as a grpc-js client sees it (proto-loader from the same .proto Dubbo publishes).
const MetadataServiceV2 = (
  grpc.loadPackageDefinition(
    protoLoader.loadSync(fileURLToPath(new URL("../../proto/metadata_service_v2.proto", import.meta.url)), {
      keepCase: true,
      defaults: true,
    }),
  ) as unknown as {
    org: { apache: { dubbo: { metadata: { MetadataServiceV2: grpc.ServiceClientConstructor } } } };
  }
).org.apache.dubbo.metadata.MetadataServiceV2;
const greetMethods = () =>
  defineService(greetRoot, "greet.GreetService", {
    Greet: (request: { name: string }) => ({ greeting: `hello ${request.name}` }),
  });

t.test("registration follows health, at both levels", needsZooKeeper(), async (t) => {
  const ensemble = await startEnsemble(t);
  const zk = new ZooKeeperClient({ servers: ensemble.servers, sessionTimeoutMs: 4000 });
  zk.start();
  t.teardown(() => zk.close());
  await zk.waitConnected(10_000);
  const events: RegistrationEvent[] = [];
  const server = createTripleServer({
    registry: `zookeeper://${ensemble.connectString}?session=3000`,
    application: "greeter",
    onRegistration: (event) => events.push(event),
  });
  server.addService("greet.GreetService", greetMethods(), { group: "g1", version: "1.0.0" });
  server.addService("other.Service", {});
  const bound = await server.listen(0);
  t.teardown(() => server.close({ graceMs: 0 }));
  const want = { service: "greet.GreetService", group: "g1", version: "1.0.0" };
  const wantOther = { service: "other.Service" };

  t.ok(await eventually(async () => (await interfaceProviders(zk, want)).length === 1), "interface node");
  const [url] = await interfaceProviders(zk, want);
  t.equal(url!.protocol, "tri");
  t.equal(url!.host, "127.0.0.1");
  t.equal(url!.port, bound.port);
  t.equal(url!.path, "greet.GreetService");
  t.equal(url!.params.get("application"), "greeter");
  t.equal(url!.params.get("interface"), "greet.GreetService");
  t.equal(url!.params.get("methods"), "Greet");
  t.equal(url!.params.get("group"), "g1");
  t.equal(url!.params.get("version"), "1.0.0");
  t.equal(url!.params.get("side"), "provider");
  t.equal(url!.params.get("serialization"), "protobuf");
  t.equal(url!.params.get("anyhost"), "true");
  t.equal(url!.params.get("pid"), String(process.pid));
  t.match(url!.params.get("release"), /^\d+\.\d+\.\d+/);
  t.match(url!.params.get("timestamp"), /^\d{13}$/);
  const nodes = await zk.getChildren("/dubbo/greet.GreetService/providers");
  const stat = await zk.exists(`/dubbo/greet.GreetService/providers/${nodes[0]}`);
  t.not(stat!.ephemeralOwner, 0n, "ephemeral");
  t.equal((await zk.exists("/dubbo/greet.GreetService/providers"))!.ephemeralOwner, 0n, "persistent parent");
  t.equal(
    (await interfaceProviders(zk, { service: "grpc.health.v1.Health" })).length,
    0,
    "health never registered",
  );
  t.same(
    await zk.exists("/dubbo/org.apache.dubbo.metadata.MetadataServiceV2"),
    null,
    "nor the metadata service",
  );

  t.ok(
    await eventually(async () => (await applicationProviders(zk, want)).length === 1),
    "application level",
  );
  const [invoker] = await applicationProviders(zk, want);
  t.equal(invoker!.host, "127.0.0.1");
  t.equal(invoker!.port, bound.port);
  t.equal(invoker!.metadata.app, "greeter");
  t.equal(invoker!.metadata.version, invoker!.instance.revision);
  t.match(invoker!.service, {
    name: "greet.GreetService",
    group: "g1",
    version: "1.0.0",
    protocol: "tri",
    port: bound.port,
  });
  t.equal(invoker!.service.params["methods"], "Greet");
  t.same(Object.keys(invoker!.metadata.services).sort(), [
    "g1/greet.GreetService:1.0.0:tri",
    "other.Service:tri",
  ]);
  t.equal((await zk.getData("/dubbo/mapping/greet.GreetService")).data.toString(), "greeter");
  const json = await fetchMetadata(invoker!.instance, "greeter", "json");
  t.equal(json.version, invoker!.instance.revision, "JSON too");
  t.same(server.registration?.nodes.length, 3, "snapshot: two interface nodes and the instance");
  t.equal(server.registration?.session, "connected");

  // One export NOT_SERVING: its node goes, the instance is republished without it.
  const revision = invoker!.instance.revision;
  server.health.set("greet.GreetService", ServingStatus.NotServing);
  server.health.set("g1/greet.GreetService:1.0.0", ServingStatus.NotServing);
  t.ok(await eventually(async () => (await interfaceProviders(zk, want)).length === 0), "node gone");
  t.ok(await eventually(async () => (await applicationProviders(zk, want)).length === 0), "not at app level");
  t.equal((await interfaceProviders(zk, wantOther)).length, 1, "the other stays");
  const [other] = await applicationProviders(zk, wantOther);
  t.not(other!.instance.revision, revision, "new revision");
  t.same(Object.keys(other!.metadata.services), ["other.Service:tri"]);
  server.health.set("g1/greet.GreetService:1.0.0", ServingStatus.Serving);
  t.ok(await eventually(async () => (await interfaceProviders(zk, want)).length === 1), "back");
  t.ok(
    await eventually(async () => (await applicationProviders(zk, want)).length === 1),
    "back at app level",
  );

  // The server as a whole: every node.
  server.health.drain("test drain");
  t.ok(
    await eventually(
      async () =>
        (await zk.getChildren("/services/greeter")).length === 0 &&
        (await interfaceProviders(zk, wantOther)).length === 0,
    ),
    "drain removes every node",
  );
  t.ok(await eventually(() => server.registration?.nodes.length === 0), "the snapshot lists none");
  t.same(await interfaceProviders(zk, want), []);
  server.health.resume();
  t.ok(
    await eventually(async () => (await applicationProviders(zk, want)).length === 1),
    "resume restores them",
  );
  t.equal((await interfaceProviders(zk, wantOther)).length, 1);
  t.ok(events.some((e) => e.kind === "registered"));
  t.ok(events.some((e) => e.kind === "unregistered"));
  t.ok(events.some((e) => e.kind === "session-connected"));

  // close(): every node is deleted (ZooKeeper confirmed it) before anything turns NOT_SERVING.
  const timeline: string[] = [];
  const trace = (kind: string) => timeline.push(kind);
  events.push = (...items: RegistrationEvent[]) => {
    for (const item of items) trace(item.kind);
    return Array.prototype.push.apply(events, items);
  };
  server.health.onChange((event) => {
    if (event.service === "" && event.status === ServingStatus.NotServing) trace("NOT_SERVING");
  });
  await server.close({ graceMs: 0, drainDelayMs: 300 });
  t.same(
    timeline,
    ["unregistered", "unregistered", "unregistered", "NOT_SERVING"],
    "three nodes deleted, then NOT_SERVING",
  );
  t.same(await zk.getChildren("/services/greeter"), []);
  t.same(await interfaceProviders(zk, wantOther), []);
});

t.test(
  "a stale node of the same address is replaced; mapping keeps other apps",
  needsZooKeeper(),
  async (t) => {
    const ensemble = await startEnsemble(t);
    const zk = new ZooKeeperClient({ servers: ensemble.servers, sessionTimeoutMs: 4000 });
    zk.start();
    t.teardown(() => zk.close());
    await zk.waitConnected(10_000);
    await zk.ensurePath("/dubbo/mapping");
    await zk.create("/dubbo/mapping/greet.GreetService", Buffer.from("another-app"), "persistent");
    // The node a previous run of the same provider left (its session not expired yet): same address.
    const stale = instancePath("greeter", "127.0.0.1", 45678);
    await zk.ensurePath("/services/greeter");
    await zk.create(stale, Buffer.from("old"), "ephemeral");
    const server = createTripleServer({
      registry: `zookeeper://${ensemble.connectString}`,
      application: "greeter",
      registerMode: "instance",
      registryHost: "127.0.0.1:45678",
    });
    server.addService("greet.GreetService", greetMethods());
    await server.listen(0);
    t.teardown(() => server.close({ graceMs: 0 }));
    t.ok(
      await eventually(async () => {
        const { data, stat } = await zk.getData(stale);
        return data.toString().startsWith("{") && stat.ephemeralOwner !== zk.sessionId;
      }),
      "replaced by the provider's own",
    );
    t.ok(
      await eventually(
        async () =>
          (await zk.getData("/dubbo/mapping/greet.GreetService")).data.toString() === "another-app,greeter",
      ),
      "mapping merged: another-app,greeter",
    );
    t.same(await zk.exists("/dubbo/greet.GreetService"), null, "instance mode: no interface node");
    // Someone deletes the node by hand: the next republish creates it again.
    await zk.delete(stale);
    server.health.set("greet.GreetService", ServingStatus.NotServing);
    t.ok(await eventually(async () => (await zk.exists(stale)) !== null), "re-created");
  },
);

t.test(
  "an ACL refusal is reported once, with the path; the server keeps serving",
  needsZooKeeper(),
  async (t) => {
    const ensemble = await startEnsemble(t);
    const owner = new ZooKeeperClient({ servers: ensemble.servers, auth: { user: "owner", password: "pw" } });
    owner.start();
    t.teardown(() => owner.close());
    await owner.waitConnected(10_000);
    await owner.create("/locked", Buffer.alloc(0), "persistent", "creator");
    const events: RegistrationEvent[] = [];
    const server = createTripleServer({
      registry: `zookeeper://${ensemble.connectString}?group=locked`,
      registerMode: "interface",
      onRegistration: (event) => events.push(event),
    });
    server.addService("greet.GreetService", greetMethods());
    await server.listen(0);
    t.teardown(() => server.close({ graceMs: 0 }));
    t.ok(await eventually(() => events.some((e) => e.kind === "error")), "reported");
    server.health.set("greet.GreetService", ServingStatus.NotServing);
    server.health.set("greet.GreetService", ServingStatus.Serving);
    // Not serving, nothing is wanted and the error clears; serving again, the create is refused again: wait for
    // that second refusal (a fixed sleep lost the race on a loaded machine), then it must not be reported again.
    t.ok(await eventually(() => /NOAUTH/.test(server.registration?.lastError ?? "")), "refused again");
    const errors = events.filter((e) => e.kind === "error");
    t.equal(errors.length, 1, "once");
    t.match(errors[0]!.message, /NOAUTH at \/locked\/greet\.GreetService/);
    t.same(server.registration?.nodes, []);
    t.equal(server.health.get(""), ServingStatus.Serving, "still serving");

    // Credentials in the registry URL: every node the provider creates (parents included, as Dubbo Java's
    // ACLProvider gives every path CREATOR_ALL_ACL) is the digest user's alone to change or delete. Read
    // stays open to all: dubbo-go consumers never send credentials (gost's client creates and reads as
    // world), Java consumers send the same user and read as the creator.
    const secured = createTripleServer({
      registry: `zookeeper://provider:s3cret@${ensemble.connectString}?group=secured`,
      application: "secured-app",
      onRegistration: (event) => events.push(event),
    });
    secured.addService("greet.GreetService", greetMethods(), { group: "g1", version: "1.0.0" });
    const { port } = await secured.listen(0);
    t.teardown(() => secured.close({ graceMs: 0 }));
    const want = { service: "greet.GreetService", group: "g1", version: "1.0.0" };
    const stranger = new ZooKeeperClient({ servers: ensemble.servers });
    stranger.start();
    t.teardown(() => stranger.close());
    await stranger.waitConnected(10_000);
    t.ok(
      await eventually(async () => (await interfaceProviders(stranger, want, "secured")).length === 1),
      "a consumer without credentials finds the interface node",
    );
    t.ok(
      await eventually(async () => (await stranger.getChildren("/services/secured-app")).length === 1),
      "and the instance",
    );
    const [node] = await stranger.getChildren("/secured/greet.GreetService/providers");
    const interfaceNode = `/secured/greet.GreetService/providers/${node}`;
    const instance = instancePath("secured-app", "127.0.0.1", port);
    const expected = [
      { perms: Perm.all, scheme: "digest", id: digestId("provider", "s3cret") },
      { perms: Perm.read, scheme: "world", id: "anyone" },
    ];
    // The ACL read back by a client with the same credentials (ZooKeeper 3.6+ shows a client without
    // ADMIN on the node a digest id as `user:x`).
    const sameUser = new ZooKeeperClient({
      servers: ensemble.servers,
      auth: { user: "provider", password: "s3cret" },
    });
    sameUser.start();
    t.teardown(() => sameUser.close());
    await sameUser.waitConnected(10_000);
    const name = (path: string) => (path === interfaceNode ? "the interface node" : path);
    for (const path of [
      interfaceNode,
      "/secured/greet.GreetService/providers",
      "/secured/greet.GreetService",
      "/secured",
      instance,
      "/services/secured-app",
    ]) {
      t.same(
        (await sameUser.getACL(path)).acl,
        expected,
        `${name(path)}: the creator's digest, read for all`,
      );
      t.same(
        (await stranger.getACL(path)).acl,
        [{ ...expected[0], id: "provider:x" }, expected[1]],
        `${name(path)}: the same, masked for a stranger`,
      );
    }
    t.match(
      JSON.parse((await stranger.getData(instance)).data.toString()),
      { name: "secured-app", port },
      "the instance JSON reads without credentials",
    );
    for (const path of [interfaceNode, instance]) {
      t.equal(
        (await rejection(stranger.delete(path))).codeName,
        "NOAUTH",
        `${name(path)}: no delete without the credentials`,
      );
      t.equal(
        (await rejection(stranger.setData(path, Buffer.from("x")))).codeName,
        "NOAUTH",
        `${name(path)}: no write without the credentials`,
      );
    }
    t.equal(
      (await rejection(stranger.create(`${interfaceNode}x`, Buffer.alloc(0), "ephemeral"))).codeName,
      "NOAUTH",
      "no node of another provider slipped in beside it",
    );
    t.ok(await stranger.exists(interfaceNode), "the nodes are still there");
    t.ok(await stranger.exists(instance));
    t.notOk(
      events.some((e) => e.kind === "error" && e.path?.startsWith("/secured")),
      "the provider itself was never refused",
    );
  },
);

t.test(
  "MetadataServiceV2 over triple and gRPC; a failing check removes its service's node",
  needsZooKeeper(),
  async (t) => {
    const ensemble = await startEnsemble(t, 1);
    const server = createTripleServer({
      registry: `zookeeper://${ensemble.connectString}`,
      application: "meta",
    });
    server.addService("greet.GreetService", greetMethods());
    const { port } = await server.listen(0);
    t.teardown(() => server.close({ graceMs: 0 }));
    const instance = { address: "127.0.0.1", port, metadataService: { protocol: "tri", port } };
    await t.rejects(
      fetchMetadata({ ...instance, revision: "nope" } as never, "meta"),
      /NOT_FOUND|not_found|no metadata of revision nope/i,
    );
    t.ok(await eventually(() => server.registration?.nodes.length === 2));
    const current = await fetchMetadata({ ...instance, revision: "" } as never, "meta");
    t.equal(current.version, server.registration?.revision);
    t.same(Object.keys(current.services), ["greet.GreetService:tri"]);

    // The same service over gRPC (grpc-js, as a gRPC consumer of Dubbo's metadata service calls it): the
    // group and version go in the tri-service-* headers, as over triple.
    const grpcClient = new MetadataServiceV2(
      `127.0.0.1:${port}`,
      grpc.credentials.createInsecure(),
    ) as unknown as grpc.Client & {
      getMetadataInfo(
        request: { revision: string },
        metadata: grpc.Metadata,
        options: grpc.CallOptions,
        callback: (error: grpc.ServiceError | null, reply?: unknown) => void,
      ): grpc.ClientUnaryCall;
    };
    t.teardown(() => grpcClient.close());
    const overGrpc = (revision: string) =>
      new Promise<{ version: string; app: string; services: Record<string, { name: string; port: number }> }>(
        (resolve, reject) => {
          const metadata = new grpc.Metadata();
          metadata.set("tri-service-group", "meta");
          metadata.set("tri-service-version", "2.0.0");
          grpcClient.getMetadataInfo(
            { revision },
            metadata,
            { deadline: Date.now() + 5000 },
            (error, reply) => (error ? reject(error) : resolve(reply as never)),
          );
        },
      );
    const viaGrpc = await overGrpc("");
    t.equal(viaGrpc.version, current.version, "gRPC: the current revision");
    t.equal(viaGrpc.app, "meta");
    t.match(viaGrpc.services, { "greet.GreetService:tri": { name: "greet.GreetService", port } });
    t.same(await overGrpc(current.version), viaGrpc, "gRPC: asked by its revision");
    t.equal(
      ((await overGrpc("nope").catch((e: unknown) => e)) as grpc.ServiceError).code,
      grpc.status.NOT_FOUND,
      "gRPC: an unknown revision is NOT_FOUND",
    );

    // A real check bound to the export (a TCP dependency that goes away): its interface node leaves within
    // interval × failure threshold plus the ZooKeeper round trip, and comes back when the check passes
    // again; the instance stays (the server is SERVING) with a new revision each time.
    const zk = new ZooKeeperClient({ servers: ensemble.servers, sessionTimeoutMs: 4000 });
    zk.start();
    t.teardown(() => zk.close());
    await zk.waitConnected(10_000);
    const dependency = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => dependency.listen(0, "127.0.0.1", resolve));
    const dependencyPort = (dependency.address() as net.AddressInfo).port;
    const runner = new HealthCheckRunner(server.health);
    t.teardown(() => runner.close());
    const intervalMs = 250;
    const failureThreshold = 2;
    runner.add({
      ...tcpCheck({ host: "127.0.0.1", port: dependencyPort, name: "db" }),
      services: ["greet.GreetService"],
      intervalMs,
      timeoutMs: 200,
      failureThreshold,
      initiallyPassing: true,
      jitter: 0,
    });
    const greet = { service: "greet.GreetService" };
    const instanceNode = instancePath("meta", "127.0.0.1", port);
    const revisionInZooKeeper = async () => {
      const parsed = parseInstanceJson((await zk.getData(instanceNode)).data);
      return "revision" in parsed ? parsed.revision : undefined;
    };
    t.ok(await eventually(async () => (await interfaceProviders(zk, greet)).length === 1), "registered");
    const serving = await revisionInZooKeeper();
    // A loaded 2-core machine: up to two ZooKeeper writes (delete, instance update) and a consumer read, each
    // under 200 ms at p99 in bench/registration.mjs at a load of 23-32; 1 s covers them with room.
    const marginMs = 1000;
    const closedAt = performance.now();
    await new Promise((resolve) => dependency.close(resolve));
    t.ok(
      await eventually(
        async () => (await interfaceProviders(zk, greet)).length === 0,
        intervalMs * failureThreshold + marginMs,
      ),
      "the check's failures removed the node",
    );
    const removedMs = performance.now() - closedAt;
    t.ok(
      removedMs <= intervalMs * failureThreshold + marginMs,
      `gone ${Math.round(removedMs)} ms after the dependency closed (bound ${intervalMs * failureThreshold + marginMs} ms)`,
    );
    t.ok(removedMs >= intervalMs * (failureThreshold - 1), "not before the threshold's failures");
    t.match(server.health.snapshotOf("greet.GreetService")?.reason, /^db: /, "the check holds it down");
    t.equal(server.health.get(""), ServingStatus.Serving, "the server as a whole still serves");
    t.ok(
      await eventually(async () => (await revisionInZooKeeper()) !== serving),
      "the instance is republished with a new revision",
    );
    const failing = await revisionInZooKeeper();
    t.not(failing, undefined);

    const reopenedAt = performance.now();
    await new Promise<void>((resolve) => dependency.listen(dependencyPort, "127.0.0.1", resolve));
    t.teardown(() => new Promise((resolve) => dependency.close(resolve)));
    t.ok(
      await eventually(async () => (await interfaceProviders(zk, greet)).length === 1, intervalMs + marginMs),
      `back ${Math.round(performance.now() - reopenedAt)} ms after the dependency returned`,
    );
    t.ok(
      await eventually(async () => (await revisionInZooKeeper()) !== failing),
      "and the instance's revision moves on again",
    );
    t.equal(await revisionInZooKeeper(), serving, "the same exports, the same revision as before");

    t.throws(() => createTripleServer({ application: "x" }), /application needs registry/);
    t.throws(() => createTripleServer({ registry: "zookeeper://h:1" }), /needs an application name/);
    t.throws(() => createTripleServer({ registry: "zookeeper://h:1", application: "a b" }), /use letters/);
    t.throws(
      () => createTripleServer({ registry: "zookeeper://h:1", registerMode: "both" as never }),
      /registerMode must be/,
    );
    t.throws(() => createTripleServer({ drainDelayMs: -1 }), /drainDelayMs must be/);
  },
);
