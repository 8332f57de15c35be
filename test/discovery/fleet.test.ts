// Three `serve -registry` providers (real processes through the CLI) on a real 3-server ZooKeeper
// ensemble, seen by a consumer that reads ZooKeeper as dubbo-go does: found at both levels, shown in
// /admin/health and on the status page; a SIGKILLed provider leaves within the session timeout and its
// restart replaces the stale node; SIGTERM and SIGINT unregister before anything turns NOT_SERVING; the
// member a provider's session is on and then the leader killed change nothing (same sessions); the whole
// ensemble down past the session timeout, with one provider drained meanwhile, comes back within the
// session timeout of its return to exactly the nodes health says; a registry unreachable at start.
import t, { type Test } from "tap";
import { freePort, tickTimeMs } from "../../bench/lib/zookeeper-ensemble.mjs";
import { createHealthClient } from "../../src/client/health-client.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { parseInstanceJson } from "../../src/discovery/dubbo/service-instance.ts";
import { ZooKeeperClient } from "../../src/discovery/zookeeper/index.ts";
import { createAdminClient } from "../../src/health/admin-client.ts";
import { launchChromium } from "../fixtures/chromium.ts";
import { applicationProviders, eventually, interfaceProviders } from "../fixtures/dubbo-consumer.ts";
import { providerSessionMs, startProvider } from "../fixtures/dubbo-provider.ts";
import { needs } from "../fixtures/tools.ts";
import { needsZooKeeper, startEnsemble, type ZooKeeperEnsemble } from "../fixtures/zookeeper-ensemble.ts";

// Three tests of up to five `serve` processes each beside a 3-JVM ensemble and a Chromium: 265 s measured
// at a load average of 40-48 on the shared 2-core machine (the first test alone 137 s), past the 240 s
// default of .taprc.
t.setTimeout(600_000);

const want = { service: "greet.GreetService", group: "g1", version: "1.0.0" };
const sessionMs = providerSessionMs;
// Room past the session timeout (plus the tick the server rounds expiry up to) on a loaded 2-core machine:
// the leader's expiry, the close-session write through the quorum, and the consumer's next read. Quorum
// writes measured under 210 ms at p99 by bench/registration.mjs at a load average of 23-32; a JVM's GC
// pause or a descheduled member costs more than that, so 1.5 s.
const marginMs = 1500;

async function consumerClient(t: Test, ensemble: ZooKeeperEnsemble) {
  const zk = new ZooKeeperClient({ servers: ensemble.servers, sessionTimeoutMs: 4000 });
  zk.start();
  t.teardown(() => zk.close());
  await zk.waitConnected(10_000);
  return zk;
}

const ports = (list: { port: number }[]) => list.map((p) => p.port).sort((a, b) => a - b);

// One ensemble for the whole file (three JVMs are the costliest thing here on a shared 2-core machine),
// started by the first test that runs and killed when the file ends. Each test leaves every member running
// and no provider registered (its providers stopped with SIGTERM, which deletes their nodes at once).
let shared: Promise<ZooKeeperEnsemble> | undefined;
const fileEnsemble = () => {
  shared ??= startEnsemble(t);
  return shared;
};

/** The session owning provider `port`'s instance node: the ephemeralOwner a consumer reads. */
async function sessionOf(zk: ZooKeeperClient, port: number): Promise<bigint> {
  const stat = await zk.exists(`/services/greeter/127.0.0.1:${port}`);
  if (stat === null) throw new Error(`no instance node for ${port}`);
  return stat.ephemeralOwner;
}

/** The `registry` kinds of a provider's `-log json` lines, in order. */
const registryKinds = (stdout: string) =>
  [...stdout.matchAll(/"registry":"([a-z-]+)"/g)].map((match) => match[1]!);

/**
 * A SIGTERM or SIGINT: exit 0, and every node deleted (each `unregistered` line) before the server turned
 * NOT_SERVING, as Dubbo's shutdown orders it; nothing of it left in ZooKeeper once it exited.
 */
async function orderedShutdown(
  t: Test,
  zk: ZooKeeperClient,
  provider: ReturnType<typeof startProvider>,
  port: number,
  signal: NodeJS.Signals,
) {
  t.equal(await provider.stop(signal), 0, `${signal}: exit 0`);
  const lines = provider.stdout.split("\n");
  const unregistered = lines.flatMap((line, i) => (line.includes('"registry":"unregistered"') ? [i] : []));
  const notServing = lines.findIndex((line) => line.includes('"service":"","status":"NOT_SERVING"'));
  t.equal(unregistered.length, 2, `${signal}: the interface node and the instance unregistered`);
  t.ok(notServing > Math.max(...unregistered), `${signal}: both before "" turned NOT_SERVING`);
  t.notOk(ports(await interfaceProviders(zk, want)).includes(port), `${signal}: no interface node left`);
  t.same(await zk.exists(`/services/greeter/127.0.0.1:${port}`), null, `${signal}: no instance left`);
}

t.test("three providers, both levels, SIGKILL and restart", needsZooKeeper(), async (t) => {
  const ensemble = await fileEnsemble();
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

  // Visible: /admin/health carries exactly what ZooKeeper holds for it, and so does the status page.
  const port2 = providerPorts[2]!;
  const nodeName = (await zk.getChildren("/dubbo/greet.GreetService/providers")).find((name) =>
    decodeURIComponent(name).startsWith(`tri://127.0.0.1:${port2}/`),
  );
  const instanceNode = `/services/greeter/127.0.0.1:${port2}`;
  const instanceJson = parseInstanceJson((await zk.getData(instanceNode)).data);
  const registration = {
    registry: `zookeeper://${ensemble.connectString}/dubbo`,
    mode: "all",
    application: "greeter",
    address: `127.0.0.1:${port2}`,
    session: "connected",
    nodes: [`/dubbo/greet.GreetService/providers/${nodeName}`, instanceNode].sort(),
    revision: "revision" in instanceJson ? instanceJson.revision : "?",
  };
  const admin = createAdminClient(`127.0.0.1:${port2}`);
  t.same(
    JSON.parse(JSON.stringify(await admin.status())).registration,
    registration,
    "/admin/health: the registration, exactly",
  );
  await t.test("the status page's registry section", needs("chromium"), async (t) => {
    const page = await launchChromium(t);
    await page.navigate(`http://127.0.0.1:${port2}/admin/`);
    await page.waitFor(`document.getElementById("connection").dataset.state === "live"`, 15_000);
    t.equal(await page.evaluate(`document.getElementById("registration").hidden`), false, "shown");
    t.equal(
      await page.evaluate(`document.getElementById("registry-summary").textContent`),
      `${registration.registry} (all, greeter at 127.0.0.1:${port2}): session connected, 2 node(s)`,
    );
    t.same(
      await page.evaluate(`[...document.querySelectorAll("#registry-nodes li")].map((li) => li.textContent)`),
      registration.nodes.map((node) => decodeURIComponent(node.replace(/\+/g, " "))),
      "each node, readable",
    );
  });

  // SIGKILL: nothing unregisters; the session's timeout removes the nodes, within that timeout plus the
  // tick the server rounds expiry up to and the margin.
  providers[0]!.child.kill("SIGKILL");
  await providers[0]!.exited;
  const killedAt = Date.now();
  const bound = sessionMs + tickTimeMs + marginMs;
  t.ok(
    await eventually(
      async () => !ports(await interfaceProviders(zk, want)).includes(providerPorts[0]!),
      bound,
    ),
    "gone after the session timeout",
  );
  const goneMs = Date.now() - killedAt;
  t.ok(goneMs <= bound, `gone ${goneMs} ms after the SIGKILL (session ${sessionMs} ms, bound ${bound} ms)`);
  t.ok(goneMs >= sessionMs * 0.5, "not before the session could expire");
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

  await orderedShutdown(t, zk, providers[2]!, port2, "SIGTERM");
  t.equal(await again.stop("SIGTERM"), 0);
});

t.test("ZooKeeper faults: a member, the leader, the whole ensemble", needsZooKeeper(), async (t) => {
  const ensemble = await fileEnsemble();
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
  // The member provider 0's session is on (its instance node's owner, found in each member's `cons`).
  const sessions = await Promise.all(providerPorts.map((port) => sessionOf(zk, port)));
  const members = await Promise.all(sessions.map((sid) => ensemble.memberOfSession(sid)));
  const target = members[0]!;
  t.ok(target >= 0, `provider 0's session 0x${sessions[0]!.toString(16)} is on member ${target}`);
  const onTarget = providerPorts.flatMap((_, i) => (members[i] === target ? [i] : []));
  const logged = providers.map((provider) => provider.stdout.length);
  await ensemble.kill(target);
  const memberKilledAt = Date.now();
  for (const i of onTarget) {
    t.ok(
      await eventually(async () => {
        const now = await ensemble.memberOfSession(sessions[i]!);
        return now >= 0 && now !== target;
      }, sessionMs),
      `provider ${i}'s session moved to another member within the session timeout (${Date.now() - memberKilledAt} ms)`,
    );
  }
  t.ok(await steady(sessionMs * 2), "the member a provider is on killed: every node stays");
  t.same(
    await Promise.all(providerPorts.map((port) => sessionOf(zk, port))),
    sessions,
    "every node still owned by the same session",
  );
  for (const i of onTarget) {
    t.same(
      registryKinds(providers[i]!.stdout.slice(logged[i])).filter((kind) => kind.startsWith("session-")),
      ["session-lost", "session-connected"],
      `provider ${i}: -log json says the connection was lost and the same session connected again`,
    );
  }
  ensemble.startMember(target);
  await ensemble.ready(60_000);
  const leader = await ensemble.leaderIndex();
  ensemble.kill(leader);
  t.ok(await steady(sessionMs * 2), "the leader killed: every node stays");
  ensemble.startMember(leader);
  await ensemble.ready(60_000);
  t.same(
    await Promise.all(providerPorts.map((port) => sessionOf(zk, port))),
    sessions,
    "still the same sessions",
  );
  for (const provider of providers) t.notMatch(provider.stdout, /session-expired/, "no session expired");

  // The whole ensemble down past the session timeout; one provider drained meanwhile.
  const beforeOutage = providers.map((provider) => provider.stdout.length);
  await ensemble.stopAll();
  const admin = createAdminClient(`127.0.0.1:${providerPorts[2]}`);
  await admin.drain("while ZooKeeper is down");
  await new Promise((resolve) => setTimeout(resolve, sessionMs * 2));
  ensemble.startAll();
  await ensemble.ready(60_000);
  const readyAt = Date.now();
  const two = providerPorts
    .slice(0, 2)
    .sort((a, b) => a - b)
    .join();
  // The consumer's own session expired too: a fresh one reads from the moment the ensemble is ready.
  const zk2 = new ZooKeeperClient({ servers: ensemble.servers, sessionTimeoutMs: 4000 });
  zk2.start();
  t.teardown(() => zk2.close());
  t.ok(
    await eventually(async () => ports(await interfaceProviders(zk2, want)).join() === two, sessionMs),
    `back within the session timeout of the ensemble's return: exactly the SERVING providers' interface nodes (${Date.now() - readyAt} ms)`,
  );
  t.ok(
    await eventually(
      async () => ports(await applicationProviders(zk2, want)).join() === two,
      Math.max(0, readyAt + sessionMs - Date.now()),
    ),
    `and instances (${Date.now() - readyAt} ms)`,
  );
  for (const [i, provider] of providers.entries()) {
    await provider.line(/"registry":"session-reestablished"/, 10_000);
    t.same(
      registryKinds(provider.stdout.slice(beforeOutage[i])).filter((kind) => kind.startsWith("session-")),
      ["session-lost", "session-expired", "session-reestablished"],
      `provider ${i}: -log json says lost, expired, re-established, in that order`,
    );
  }
  // Settled (a provider that re-creates its instance on the new session replaces it: delete, then create).
  const wantedChildren = providerPorts
    .slice(0, 2)
    .map((p) => `127.0.0.1:${p}`)
    .sort()
    .join();
  let children: string[] = [];
  await eventually(async () => {
    children = (await zk2.getChildren("/services/greeter")).sort();
    return children.join() === wantedChildren;
  }, 5000);
  t.same(children.join(), wantedChildren, "no duplicates, none of the drained one");
  t.match(
    JSON.parse(JSON.stringify(await admin.status())).registration,
    { session: "connected", nodes: [], mode: "all", address: `127.0.0.1:${providerPorts[2]}` },
    "/admin/health: the drained one is connected and reports no node",
  );
  t.same(JSON.parse(JSON.stringify(await admin.status())).registration.nodes, [], "none at all");
  await admin.resume();
  t.ok(
    await eventually(async () => ports(await interfaceProviders(zk2, want)).join() === all, 20_000),
    "resume restores it",
  );
  t.same(
    await Promise.all(providers.map((provider) => provider.stop("SIGTERM"))),
    [0, 0, 0],
    "stopped, their nodes deleted",
  );
});

t.test("registry unreachable at start: serves, logs, registers once it can", needsZooKeeper(), async (t) => {
  const ensemble = await fileEnsemble();
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
  await orderedShutdown(t, zk, provider, port, "SIGINT");
});
