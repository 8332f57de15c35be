// Discovery on a real 3-server ZooKeeper ensemble: providers written the way our registrar, dubbo-go and
// Dubbo Java write them, at both levels, are found; unusable entries are skipped and reported once; a
// joining provider costs one read and one metadata call; a deleted node leaves the set; the set
// survives the ensemble losing members and all of it.
import t from "tap";
import { createEndpointPicker } from "../../src/client/endpoint-picker.ts";
import { type DiscoveryEvent, ProviderDiscovery } from "../../src/discovery/provider-discovery.ts";
import { ZooKeeperClient } from "../../src/discovery/zookeeper/index.ts";
import {
  greet,
  startProvider,
  writeGoInterfaceNode,
  writeInstance,
  writeJavaInterfaceNode,
  writeMapping,
  writeOurs,
} from "../fixtures/dubbo-fleet.ts";
import { unusedPort } from "../fixtures/start-server.ts";
import { needsZooKeeper, startEnsemble } from "../fixtures/zookeeper-ensemble.ts";

async function until(what: string, test: () => boolean, limitMs = 10_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!test()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

t.test("both levels, every writer, on a real ensemble", needsZooKeeper(), async (t) => {
  const ensemble = await startEnsemble(t);
  const writer = new ZooKeeperClient({ servers: ensemble.servers, sessionTimeoutMs: 30_000 });
  writer.start();
  t.teardown(() => writer.close());
  await writer.waitConnected(10_000);

  const group = "g1";
  const version = "1.0.0";
  // Ours (both levels), a dubbo-go provider at each level, a Java provider at each level.
  const ours = await startProvider(t, { app: "node-app", group, version });
  const goIface = await startProvider(t, { app: "go-app", group, version });
  const goApp = await startProvider(t, { app: "go-app", group, version });
  const javaIface = await startProvider(t, { app: "java-app", group, version });
  const javaApp = await startProvider(t, { app: "java-app", group, version });
  await writeOurs(writer, ours);
  await writeGoInterfaceNode(writer, { port: goIface.port, app: "go-app", group, version });
  await writeJavaInterfaceNode(writer, { port: javaIface.port, app: "java-app", group, version });
  await writeMapping(writer, "go-app");
  await writeMapping(writer, "java-app");
  await writeInstance(writer, {
    app: "go-app",
    port: goApp.port,
    revision: goApp.metadata.version,
    shape: "go",
  });
  await writeInstance(writer, {
    app: "java-app",
    port: javaApp.port,
    revision: javaApp.metadata.version,
    shape: "java",
  });
  // What a consumer of g1/greet.GreetService:1.0.0 over tri must skip, or ignore:
  const dead = await unusedPort();
  await writeGoInterfaceNode(writer, { port: 1001, app: "go-app", group, version, protocol: "dubbo" });
  await writeGoInterfaceNode(writer, { port: 1002, app: "go-app", group, version, serialization: "kryo" });
  await writeGoInterfaceNode(writer, { port: 1003, app: "go-app", group: "other", version }); // another key: ignored
  await writer.create("/dubbo/greet.GreetService/providers/not-a-url", Buffer.alloc(0), "ephemeral");
  await writeInstance(writer, { app: "go-app", port: 1004, revision: "0", shape: "go" });
  await writeInstance(writer, {
    app: "go-app",
    port: 1005,
    revision: "abc",
    shape: "go",
    endpoints: [{ port: 1005, protocol: "dubbo" }],
  });
  await writeInstance(writer, { app: "java-app", port: dead, revision: "dead", shape: "go" });
  await writer.ensurePath("/services/go-app");
  await writer.create("/services/go-app/garbage", Buffer.from("{not json"), "ephemeral");

  const reader = new ZooKeeperClient({ servers: ensemble.servers, sessionTimeoutMs: 6_000 });
  reader.start();
  t.teardown(() => reader.close());
  const events: DiscoveryEvent[] = [];
  const discovery = new ProviderDiscovery({
    client: reader,
    service: greet,
    group,
    version,
    onEvent: (event) => events.push(event),
  }).start();
  t.teardown(() => discovery.close());
  t.ok(await discovery.ready(20_000), "a complete first set");

  const byPort = new Map(discovery.providers.map((p) => [Number(p.address.split(":")[1]), p]));
  t.same(
    [...byPort.keys()].sort(),
    [ours.port, goIface.port, goApp.port, javaIface.port, javaApp.port].sort(),
    "every usable provider, once each",
  );
  t.same(
    byPort.get(ours.port)!.levels.slice().sort(),
    ["instance", "interface"],
    "ours at both levels, merged",
  );
  t.same(byPort.get(goIface.port)!.levels, ["interface"]);
  t.same(byPort.get(goApp.port)!.levels, ["instance"]);
  t.equal(byPort.get(javaIface.port)!.endpoint, `tri://127.0.0.1:${javaIface.port}`);
  t.match(
    byPort.get(goIface.port)!.urls[0],
    /^tri:\/\/127\.0\.0\.1:\d+\/greet\.GreetService\?.*service\.filter=echo,token/,
  );
  t.match(byPort.get(javaApp.port)!.urls[0], /group=g1.*interface=greet\.GreetService.*version=1\.0\.0/);
  const skipped = events.filter((e) => e.type === "skipped") as Extract<
    DiscoveryEvent,
    { type: "skipped" }
  >[];
  const reasons = skipped.map((e) => `${e.level}: ${e.reason}`).sort();
  t.match(reasons, [
    /^instance: metadata call failed: \[UNAVAILABLE\]/,
    "instance: no revision",
    "instance: no tri endpoint in dubbo.endpoints",
    "instance: not JSON",
    "interface: not a provider URL",
    /^interface: protocol dubbo, serialization protobuf/,
    /^interface: protocol tri, serialization kryo/,
  ]);
  t.equal(skipped.length, 7, "each unusable entry reported once; the other group not at all");

  // The instance whose metadata call fails is retried with backoff; once its node goes, so do the retries.
  await writer.delete(`/services/java-app/127.0.0.1:${dead}`);
  await new Promise((resolve) => setTimeout(resolve, 500));
  // A provider joining: one instance read plus its app's child list, one metadata call, nothing else re-read.
  const before = { ...discovery.stats };
  const joiner = await startProvider(t, { app: "java-app", group, version });
  await writeInstance(writer, {
    app: "java-app",
    port: joiner.port,
    revision: joiner.metadata.version,
    shape: "java",
  });
  await until("the joiner", () => discovery.endpoints.includes(`tri://127.0.0.1:${joiner.port}`));
  t.equal(discovery.stats.reads - before.reads, 2, "two reads: /services/java-app children and the new node");
  t.equal(discovery.stats.metadataCalls - before.metadataCalls, 1, "one metadata call, for the new revision");
  // Another instance of the joiner's revision (on another host it would have the same port; here the
  // ports differ, the exports are the same): its metadata comes from the cache, no call.
  const twin = await startProvider(t, { app: "java-app", group, version });
  const beforeTwin = { ...discovery.stats };
  await writeInstance(writer, {
    app: "java-app",
    port: twin.port,
    revision: joiner.metadata.version,
    shape: "java",
  });
  await until("the twin", () => discovery.endpoints.includes(`tri://127.0.0.1:${twin.port}`));
  t.equal(discovery.stats.metadataCalls, beforeTwin.metadataCalls, "a revision seen: no metadata call");
  t.equal(discovery.stats.metadataCacheHits - beforeTwin.metadataCacheHits, 1, "one cache hit");
  t.match(
    discovery.providers.find((p) => p.endpoint === `tri://127.0.0.1:${twin.port}`)?.urls[0],
    new RegExp(`^tri://127\\.0\\.0\\.1:${twin.port}/greet\\.GreetService\\?`),
    "invoked at its own address, with the cached services",
  );
  await new Promise((resolve) => setTimeout(resolve, 500));
  const quiet = discovery.stats.metadataCalls;

  // Deleted nodes leave the set; the picker fed by discovery stops picking them.
  const picker = createEndpointPicker({ discovery, service: greet, group, version, lostStreamGraceMs: 0 });
  t.teardown(() => picker.close());
  await picker.ready();
  await until("all routable", () => picker.routable.length === 7);
  const goNode = (await writer.getChildren("/dubbo/greet.GreetService/providers")).find((n) =>
    decodeURIComponent(n).includes(`:${goIface.port}/`),
  )!;
  const deletedAt = Date.now();
  await writer.delete(`/dubbo/greet.GreetService/providers/${goNode}`);
  await until(
    "the deleted provider gone",
    () => !picker.endpoints.includes(`tri://127.0.0.1:${goIface.port}`),
    1000,
  );
  t.ok(Date.now() - deletedAt <= 1000, "no longer picked within a second of the delete");
  for (let i = 0; i < 20; i++) {
    const picked = picker.pick()!;
    t.not(picked.endpoint, `tri://127.0.0.1:${goIface.port}`);
    picked.done("success");
  }
  // Ours is at both levels: deleting one level keeps it; both, and it is gone.
  await writer.delete(`/services/node-app/127.0.0.1:${ours.port}`);
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.ok(discovery.endpoints.includes(`tri://127.0.0.1:${ours.port}`), "still listed at interface level");
  t.same(discovery.providers.find((p) => p.address.endsWith(`:${ours.port}`))!.levels, ["interface"]);

  // The ensemble loses a member, then its leader: the set does not change.
  const set = [...discovery.endpoints].sort();
  const onMember = ensemble.memberOf(reader.currentServer);
  await ensemble.kill(onMember);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  t.same([...discovery.endpoints].sort(), set, "member lost: same set");
  const leader = await ensemble.leaderIndex();
  if (leader >= 0) await ensemble.kill(leader);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  t.same([...discovery.endpoints].sort(), set, "leader lost: same set");
  t.equal(picker.routable.length, set.length, "and every provider still routed by its health");

  // All of it, past the reader's session timeout: the last set stands; on return, a new session re-reads.
  await ensemble.stopAll();
  await until("outage reported", () => events.some((e) => e.type === "outage" && e.down));
  await new Promise((resolve) => setTimeout(resolve, 8_000));
  t.same([...discovery.endpoints].sort(), set, "ensemble down past the session timeout: same set");
  t.equal(picker.routable.length, set.length, "still routed");
  ensemble.startAll();
  await ensemble.ready(60_000);
  await until("outage over", () => events.some((e) => e.type === "outage" && !e.down), 60_000);
  // The writer's session (20 s, the server's maximum here) may have expired too on a slow machine, taking
  // its ephemeral nodes with it, as for any provider: the set must then be exactly what is still registered.
  await writer.waitConnected(30_000);
  const interfaceNodes = (await writer.getChildren("/dubbo/greet.GreetService/providers")).map((node) =>
    decodeURIComponent(node),
  );
  const registered: string[] = [];
  for (const endpoint of set) {
    const address = endpoint.slice("tri://".length);
    let present = interfaceNodes.some((url) => url.includes(`://${address}/`));
    for (const app of ["node-app", "go-app", "java-app"])
      present ||= (await writer.exists(`/services/${app}/${address}`)) !== null;
    if (present) registered.push(endpoint);
  }
  await until(
    "the set in step with the registry",
    () => discovery.endpoints.length === registered.length,
    20_000,
  );
  t.same([...discovery.endpoints].sort(), registered, "after the outage: what is registered, nothing else");
  // The reader's session expired (6 s) and a new one re-armed every watch: a provider joining now is seen.
  const late = await startProvider(t, { app: "go-app", group, version });
  await writeGoInterfaceNode(writer, { port: late.port, app: "go-app", group, version });
  await until("the provider that joined after the outage", () =>
    discovery.endpoints.includes(`tri://127.0.0.1:${late.port}`),
  );
  t.same([...discovery.endpoints].sort(), [...registered, `tri://127.0.0.1:${late.port}`].sort());
  t.equal(
    discovery.stats.metadataCalls,
    quiet,
    "no metadata call after the outage: every revision was cached",
  );
});

// An outage past every session: the providers' nodes go with their sessions, and each provider registers
// again once its own client reconnects, often after our first reads. A provider back within the rejoin
// grace never leaves the set; one that does not come back leaves it when the grace ends.
t.test(
  "a new session's first reads keep missing providers for rejoinGraceMs",
  needsZooKeeper(),
  async (t) => {
    const ensemble = await startEnsemble(t);
    const sessionTimeoutMs = 4000;
    const rejoinGraceMs = 6000;
    const writer = new ZooKeeperClient({ servers: ensemble.servers, sessionTimeoutMs });
    writer.start();
    t.teardown(() => writer.close());
    await writer.waitConnected(10_000);
    const node = { app: "go-app", group: "", version: "" };
    const [back, gone] = [2001, 2002];
    const backPath = await writeGoInterfaceNode(writer, { ...node, port: back });
    await writeGoInterfaceNode(writer, { ...node, port: gone });

    const reader = new ZooKeeperClient({ servers: ensemble.servers, sessionTimeoutMs });
    reader.start();
    t.teardown(() => reader.close());
    const events: DiscoveryEvent[] = [];
    const discovery = new ProviderDiscovery({
      client: reader,
      service: greet,
      levels: "interface",
      rejoinGraceMs,
      onEvent: (event) => events.push(event),
    }).start();
    t.teardown(() => discovery.close());
    t.ok(await discovery.ready(20_000), "a complete first set");
    t.same(discovery.endpoints.length, 2, "both providers found");

    await ensemble.stopAll();
    await until("outage reported", () => events.some((e) => e.type === "outage" && e.down));
    await new Promise((resolve) => setTimeout(resolve, 2 * sessionTimeoutMs + 1000));
    ensemble.startAll();
    await ensemble.ready(60_000);
    await until("outage over", () => events.some((e) => e.type === "outage" && !e.down), 60_000);
    const over = events.find((e) => e.type === "outage" && !e.down)!;
    t.match(over, { reason: /new session: providers missing from it are kept 6000 ms/ }, "the log says why");

    // The writer's old session was closed at its reconnect, taking both nodes: "back" registers again.
    await writer.waitConnected(30_000);
    const end = Date.now() + 20_000;
    while ((await writer.exists(backPath)) !== null && Date.now() < end)
      await new Promise((resolve) => setTimeout(resolve, 50));
    await writeGoInterfaceNode(writer, { ...node, port: back });

    await until(
      "the provider that did not come back removed",
      () => events.some((e) => e.type === "removed"),
      30_000,
    );
    const removed = events.flatMap((e) => (e.type === "removed" ? [e] : []));
    t.same(
      removed.map((e) => e.provider.address),
      [`127.0.0.1:${gone}`],
      "only the provider that did not register again left the set",
    );
    t.ok(
      removed[0]!.time >= over.time + rejoinGraceMs - 50,
      `and only once the grace ended (${removed[0]!.time - over.time} ms after the registry came back)`,
    );
    t.same(discovery.endpoints, [`tri://127.0.0.1:${back}`], "the one that came back stays");
  },
);
