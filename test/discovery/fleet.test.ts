// Three `serve -registry` providers (real processes through the CLI) on a real 3-server ZooKeeper
// ensemble, seen by a consumer that reads ZooKeeper as dubbo-go does: found at both levels; a SIGKILLed
// provider leaves after the session timeout and its restart replaces the stale node; a member and the
// leader killed change nothing; the whole ensemble down past the session timeout, with one provider
// drained meanwhile, comes back to exactly the nodes health says; a registry unreachable at start.
import t, { type Test } from "tap";
import { freePort } from "../../bench/lib/zookeeper-ensemble.mjs";
import { createHealthClient } from "../../src/client/health-client.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { ZooKeeperClient } from "../../src/discovery/zookeeper/index.ts";
import { createAdminClient } from "../../src/health/admin-client.ts";
import { applicationProviders, eventually, interfaceProviders } from "../fixtures/dubbo-consumer.ts";
import { providerSessionMs, startProvider } from "../fixtures/dubbo-provider.ts";
import { needsZooKeeper, startEnsemble, type ZooKeeperEnsemble } from "../fixtures/zookeeper-ensemble.ts";

const want = { service: "greet.GreetService", group: "g1", version: "1.0.0" };
const sessionMs = providerSessionMs;

async function consumerClient(t: Test, ensemble: ZooKeeperEnsemble) {
  const zk = new ZooKeeperClient({ servers: ensemble.servers, sessionTimeoutMs: 4000 });
  zk.start();
  t.teardown(() => zk.close());
  await zk.waitConnected(10_000);
  return zk;
}

const ports = (list: { port: number }[]) => list.map((p) => p.port).sort((a, b) => a - b);

t.test("three providers, both levels, SIGKILL and restart", needsZooKeeper(), async (t) => {
  const ensemble = await startEnsemble(t);
  const zk = await consumerClient(t, ensemble);
  const providerPorts: number[] = [await freePort(), await freePort(), await freePort()];
  const providers = providerPorts.map((port) => startProvider(t, ensemble.connectString, port));
  for (const provider of providers)
    await provider.line(/"registry":"registered","path":"\/services\//, 90_000);
  const sorted = [...providerPorts].sort((a, b) => a - b);
  t.ok(
    await eventually(async () => ports(await interfaceProviders(zk, want)).join() === sorted.join()),
    "interface level",
  );
  t.ok(
    await eventually(async () => ports(await applicationProviders(zk, want)).join() === sorted.join()),
    "application level",
  );
  for (const invoker of await applicationProviders(zk, want)) {
    t.equal(invoker.host, "127.0.0.1");
    t.match(invoker.service, { name: "greet.GreetService", group: "g1", version: "1.0.0", protocol: "tri" });
    t.equal(invoker.service.params["methods"], "Greet");
  }
  // Found, and callable as found.
  const [first] = await interfaceProviders(zk, want);
  const health = createHealthClient(`tri://${first!.host}:${first!.port}`, { protocol: "triple" });
  t.equal(await health.check("g1/greet.GreetService:1.0.0"), ServingStatus.Serving);
  await health.close();

  // SIGKILL: nothing unregisters; the session's timeout removes the nodes.
  providers[0]!.child.kill("SIGKILL");
  await providers[0]!.exited;
  const killedAt = Date.now();
  t.ok(
    await eventually(
      async () => !ports(await interfaceProviders(zk, want)).includes(providerPorts[0]!),
      sessionMs * 3,
    ),
    "gone after the session timeout",
  );
  t.ok(Date.now() - killedAt >= sessionMs * 0.5, "not before the session could expire");
  t.notOk(ports(await applicationProviders(zk, want)).includes(providerPorts[0]!));

  // Restart before the old session expired: kill, restart at once on the same port.
  providers[1]!.child.kill("SIGKILL");
  await providers[1]!.exited;
  const again = startProvider(t, ensemble.connectString, providerPorts[1]!);
  await again.line(/"registry":"registered","path":"\/services\//);
  const instance = `/services/greeter/127.0.0.1:${providerPorts[1]}`;
  const { stat } = await zk.getData(instance);
  await new Promise((resolve) => setTimeout(resolve, sessionMs * 2));
  t.ok(await zk.exists(instance), "the restarted provider's node outlives the old session");
  t.equal((await zk.exists(instance))!.ephemeralOwner, stat.ephemeralOwner, "owned by the new session");
  t.equal(
    (await interfaceProviders(zk, want)).filter((u) => u.port === providerPorts[1]).length,
    1,
    "one node",
  );
});

t.test("ZooKeeper faults: a member, the leader, the whole ensemble", needsZooKeeper(), async (t) => {
  const ensemble = await startEnsemble(t);
  const zk = await consumerClient(t, ensemble);
  const providerPorts: number[] = [await freePort(), await freePort(), await freePort()];
  const providers = providerPorts.map((port) => startProvider(t, ensemble.connectString, port));
  for (const provider of providers)
    await provider.line(/"registry":"registered","path":"\/services\//, 90_000);
  const all = [...providerPorts].sort((a, b) => a - b).join();
  t.ok(await eventually(async () => ports(await interfaceProviders(zk, want)).join() === all));

  // A member dies, then the leader: sessions move, nodes stay (checked throughout).
  const steady = async (ms: number) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const seen = await eventually(
        async () => ports(await interfaceProviders(zk, want)).join() === all,
        2000,
      );
      if (!seen) return false;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return true;
  };
  const leader = await ensemble.leaderIndex();
  const follower = [0, 1, 2].find((i) => i !== leader)!;
  ensemble.kill(follower);
  t.ok(await steady(sessionMs * 2), "a follower killed: every node stays");
  ensemble.startMember(follower);
  await ensemble.ready(60_000);
  ensemble.kill(leader);
  t.ok(await steady(sessionMs * 2), "the leader killed: every node stays");
  ensemble.startMember(leader);
  await ensemble.ready(60_000);
  for (const provider of providers) t.notMatch(provider.stdout, /session-expired/, "no session expired");

  // The whole ensemble down past the session timeout; one provider drained meanwhile.
  await ensemble.stopAll();
  const admin = createAdminClient(`127.0.0.1:${providerPorts[2]}`);
  await admin.drain("while ZooKeeper is down");
  await new Promise((resolve) => setTimeout(resolve, sessionMs * 2));
  ensemble.startAll();
  await ensemble.ready(60_000);
  for (const provider of providers.slice(0, 2))
    await provider.line(/"registry":"session-reestablished"/, 30_000);
  const two = providerPorts
    .slice(0, 2)
    .sort((a, b) => a - b)
    .join();
  const zk2 = await consumerClient(t, ensemble);
  t.ok(
    await eventually(async () => ports(await interfaceProviders(zk2, want)).join() === two, 20_000),
    "back: exactly the SERVING providers' interface nodes",
  );
  t.ok(
    await eventually(async () => ports(await applicationProviders(zk2, want)).join() === two, 20_000),
    "and instances",
  );
  t.same(
    (await zk2.getChildren("/services/greeter")).sort(),
    providerPorts
      .slice(0, 2)
      .map((p) => `127.0.0.1:${p}`)
      .sort(),
    "no duplicates, none of the drained one",
  );
  t.same(
    JSON.parse(JSON.stringify((await admin.status()) as object)).registration?.nodes ?? [],
    [],
    "the drained one reports no node",
  );
  await admin.resume();
  t.ok(
    await eventually(async () => ports(await interfaceProviders(zk2, want)).join() === all, 20_000),
    "resume restores it",
  );
});

t.test("registry unreachable at start: serves, logs, registers once it can", needsZooKeeper(), async (t) => {
  const ensemble = await startEnsemble(t);
  await ensemble.stopAll();
  const port = await freePort();
  const provider = startProvider(t, ensemble.connectString, port);
  await provider.line(/"service":"g1\/greet.GreetService:1.0.0","status":"SERVING"/);
  const health = createHealthClient(`tri://127.0.0.1:${port}`, { protocol: "triple" });
  t.teardown(() => health.close());
  t.equal(await health.check(""), ServingStatus.Serving, "serving without a registry");
  await provider.line(/"registry":"error"/, 30_000);
  ensemble.startAll();
  await ensemble.ready(60_000);
  await provider.line(/"registry":"registered","path":"\/services\//, 60_000);
  const zk = await consumerClient(t, ensemble);
  t.same(ports(await interfaceProviders(zk, want)), [port]);
  t.equal(await provider.stop("SIGTERM"), 0);
  t.same(await interfaceProviders(zk, want), [], "SIGTERM unregisters");
  t.match(provider.stdout, /"registry":"unregistered"/);
});
