// `triple-health proxy -registry -retry-on-reset` in front of a Dubbo fleet on a real 3-server ZooKeeper
// ensemble, with a grpc-js client calling through it the whole time (Greet, forwarded; Check, the proxy's own
// health) while
//   - our own `serve -registry` providers restart one at a time with SIGTERM (both levels, Dubbo's order);
//   - a dubbo-go-shaped provider (interface-level URL with dubbo-go's parameters) and a Java-shaped one
//     (application-level instance, MetadataServiceV2) join, drain (NOT_SERVING, then unregistered),
//     join again and crash (SIGKILL: the node stays until its session expires, and the health Watch has
//     to route around it meanwhile);
//   - the ensemble loses a follower, then (the follower back) its leader.
// Zero failed calls, every provider took calls. A call sent to a crashed process before the proxy could know
// it was gone (in flight, or written on its connection before the proxy's event loop saw that connection
// close) got no response byte: with -retry-on-reset (Greet is idempotent, as Dubbo's failover cluster
// assumes) the proxy resends it to another provider, so no call is lost to a crash either.
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import t from "tap";
import { freePort } from "../../bench/lib/zookeeper-ensemble.mjs";
import { ZooKeeperClient } from "../../src/discovery/zookeeper/index.ts";
import { providerSessionMs, startProvider } from "../fixtures/dubbo-provider.ts";
import { GrpcHealthClient, type GrpcHealthStub } from "../fixtures/grpc-health.ts";
import { type RunningNode, startNode, stderrLine } from "../fixtures/node-process.ts";
import { startCli } from "../fixtures/run-cli.ts";
import { needsZooKeeper, startEnsemble } from "../fixtures/zookeeper-ensemble.ts";
import { type Shape, startShapedProvider } from "./fixtures/dubbo-shaped-provider.ts";
import { from, type GreetStub, grpcClient } from "./fixtures/proxy-harness.ts";

const shapedProcess = fileURLToPath(new URL("fixtures/dubbo-shaped-process.ts", import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
// Start-up of a child under tap's TypeScript loader: seconds alone, far more on a loaded 2-core CI machine.
const startMs = 300_000;

/** Greet through the proxy as a Dubbo triple consumer calls it: the group and version as metadata. */
function greet(client: GreetStub, name: string): Promise<string> {
  const metadata = new grpc.Metadata();
  metadata.set("tri-service-group", "g1");
  metadata.set("tri-service-version", "1.0.0");
  return new Promise((resolve, reject) =>
    (client.greet as unknown as (...args: unknown[]) => void)(
      { name },
      metadata,
      { deadline: Date.now() + 10_000 },
      (error: grpc.ServiceError | null, response?: { greeting: string }) =>
        error === null ? resolve(response!.greeting) : reject(error),
    ),
  );
}

/** The proxy's /metrics: picks (attempts sent) and healthy, by upstream. */
async function scrape(url: string): Promise<{ picks: Map<string, number>; healthy: Set<string> }> {
  const text = await (await fetch(url)).text();
  const picks = new Map<string, number>();
  const healthy = new Set<string>();
  for (const [, name, upstream, value] of text.matchAll(
    /^triple_health_proxy_(picks_total|upstream_healthy)\{upstream="([^"]+)"\} (\d+)$/gm,
  )) {
    if (name === "picks_total") picks.set(upstream!, Number(value));
    else if (value === "1") healthy.add(upstream!);
  }
  return { picks, healthy };
}

t.test("a Dubbo fleet churning behind proxy -registry: no failed call", needsZooKeeper(), async (t) => {
  const ensemble = await startEnsemble(t);
  const connect = ensemble.connectString;
  const zk = new ZooKeeperClient({ servers: ensemble.servers, sessionTimeoutMs: 6000 });
  zk.start();
  t.teardown(() => zk.close());

  // Ours: `serve -sample -registry` (both levels), SIGTERM drains in Dubbo's order with a 1 s delay.
  const serve = async (port: number) => {
    const provider = startProvider(t, connect, port, ["-drain-delay=1s"]);
    await provider.line(/"registry":"registered","path":"\/services\//, startMs);
    return provider;
  };
  // dubbo-go- and Java-shaped: in this process those that drain, in their own those that crash (started
  // ahead, registered on SIGUSR1 when they join).
  const inProcess = async (shape: Shape, id: string) => {
    const provider = await startShapedProvider({
      shape,
      id,
      servers: ensemble.servers,
      // They never crash: a session long enough for a starved event loop, so only the crashes expire.
      sessionTimeoutMs: 10_000,
    });
    t.teardown(() => provider.close());
    return provider;
  };
  const ownProcess = async (shape: Shape, id: string) => {
    const node = startNode(t, [shapedProcess, shape, id, connect, String(providerSessionMs)], {
      stderr: "inherit",
    });
    const { port } = JSON.parse((await node.line(/^\{"port"/, startMs)).input) as { port: number };
    const join = async () => {
      node.child.kill("SIGUSR1");
      return (JSON.parse((await node.line(/^\{"nodes"/, 30_000)).input) as { nodes: string[] }).nodes;
    };
    return { node, port, join };
  };
  const ports = { s1: await freePort(), s2: await freePort(), s3: await freePort(), s4: await freePort() };
  const proxy = startCli(t, [
    "proxy",
    "-retry-on-reset",
    "-listen",
    "127.0.0.1:0",
    "-registry",
    `zookeeper://${connect}?session=6000`,
    "-service",
    "greet.GreetService",
    "-group",
    "g1",
    "-version",
    "1.0.0",
    "-metrics",
    "127.0.0.1:0",
  ]);
  const [first, second, j1, g2, g1, j2] = await Promise.all([
    serve(ports.s1),
    serve(ports.s2),
    ownProcess("java", "j1"),
    ownProcess("go", "g2"),
    inProcess("go", "g1"),
    inProcess("java", "j2"),
  ]);
  let [s1, s2] = [first, second];
  await g1.register();
  const j1Nodes = await j1.join();
  const banner = (
    await stderrLine(proxy, /^triple-health proxy on http:\/\/127\.0\.0\.1:(\d+) .*$/m, startMs)
  )[0];
  t.match(banner, /→ the providers in zookeeper:\/\/.* for g1\/greet\.GreetService:1\.0\.0$/);
  const address = `127.0.0.1:${/:(\d+) /.exec(banner)![1]}`;
  const metricsUrl = `${(await stderrLine(proxy, /metrics on (http:\/\/\S+)/, 30_000))[1]}`;
  const endpoint = (port: number) => `tri://127.0.0.1:${port}`;
  const routable = async (want: number[], timeoutMs = 60_000) => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const { healthy } = await scrape(metricsUrl);
      if (want.every((port) => healthy.has(endpoint(port)))) return true;
      if (Date.now() > end) return false;
      await sleep(100);
    }
  };
  t.ok(await routable([ports.s1, ports.s2, g1.port, j1.port]), "ours, dubbo-go's and Java's, all routed");
  const started = Date.now();
  const at = () => `+${((Date.now() - started) / 1000).toFixed(1)} s`;

  const client = grpcClient(t, address);
  const health = new GrpcHealthClient(
    address,
    grpc.credentials.createInsecure(),
  ) as unknown as GrpcHealthStub;
  t.teardown(() => health.close());

  // The calls: two Greet loops (forwarded; the foreign providers say who answered) and a Check loop.
  let running = true;
  const failures: { began: number; at: number; message: string }[] = [];
  const answeredBy = new Map<string, number>();
  let calls = 0;
  const greetLoop = async () => {
    while (running) {
      const began = Date.now();
      try {
        const id = from(await greet(client, "fleet"));
        answeredBy.set(id, (answeredBy.get(id) ?? 0) + 1);
      } catch (error) {
        failures.push({ began, at: Date.now(), message: `Greet: ${(error as Error).message}` });
      }
      calls++;
      await sleep(2);
    }
  };
  const checkLoop = async () => {
    while (running) {
      const began = Date.now();
      const status = await new Promise<string>((resolve) =>
        health.check({ service: "greet.GreetService" }, { deadline: Date.now() + 5000 }, (error, response) =>
          resolve(error === null ? response!.status : `error ${error.message}`),
        ),
      );
      if (status !== "SERVING") failures.push({ began, at: Date.now(), message: `Check: ${status}` });
      calls++;
      await sleep(20);
    }
  };
  const loops = [greetLoop(), greetLoop(), checkLoop()];
  const tookCalls = async (id: string) => {
    const end = Date.now() + 20_000;
    while ((answeredBy.get(id) ?? 0) === 0 && Date.now() < end) await sleep(50);
    return (answeredBy.get(id) ?? 0) > 0;
  };
  t.ok((await tookCalls("g1")) && (await tookCalls("j1")), "the foreign providers take calls");

  // The crashes: SIGKILL, the node left behind; the calls the dead process had taken are resent.
  const crashes: { endpoint: string; at: number }[] = [];
  const crash = async (provider: { node: RunningNode; port: number }) => {
    crashes.push({ endpoint: endpoint(provider.port), at: Date.now() });
    provider.node.child.kill("SIGKILL");
    await provider.node.exited;
  };
  const removed = (port: number, timeoutMs: number) =>
    stderrLine(proxy, new RegExp(`tri://127\\.0\\.0\\.1:${port} gone from the registry`), timeoutMs);

  // 1. A follower lost; our first provider restarts (SIGTERM, then again on a new port) meanwhile.
  const leader = await ensemble.leaderIndex();
  const follower = [0, 1, 2].find((i) => i !== leader)!;
  await ensemble.kill(follower);
  t.comment(`${at()}: follower ${follower} killed`);
  t.equal(await s1.stop("SIGTERM"), 0, "s1 drained and exited");
  t.match(s1.stdout, /"registry":"unregistered"/);
  s1 = await serve(ports.s3);
  t.ok(await routable([ports.s3]), "s1 again, routed");
  t.comment(`${at()}: s1 restarted`);
  ensemble.startMember(follower);

  // 2. dubbo-go's drains (NOT_SERVING, unregistered, GOAWAY) while Java's crashes; both join again.
  await Promise.all([g1.drain(1000), crash(j1)]);
  t.comment(`${at()}: g1 drained, j1 crashed`);
  const lingering = await Promise.all(j1Nodes.map(async (node) => (await zk.exists(node)) !== null));
  t.ok(lingering.every(Boolean), "the crashed provider's instance node lingers (its session is alive)");
  await Promise.all([g2.join(), j2.register()]);
  t.ok(await routable([g2.port, j2.port]), "dubbo-go's and Java's joining again, routed");
  await removed(j1.port, providerSessionMs * 10);
  t.comment(`${at()}: j1's session expired, its node left the set`);

  // 3. The follower back, the leader lost; our second provider restarts meanwhile.
  await ensemble.ready(60_000);
  const lead = await ensemble.leaderIndex();
  if (lead >= 0) await ensemble.kill(lead);
  t.comment(`${at()}: leader ${lead} killed`);
  t.equal(await s2.stop("SIGTERM"), 0, "s2 drained and exited");
  s2 = await serve(ports.s4);
  t.ok(await routable([ports.s4]), "s2 again, routed");
  t.comment(`${at()}: s2 restarted`);

  // 4. dubbo-go's crashes (its node lingers), Java's drains.
  await Promise.all([crash(g2), j2.drain(1000)]);
  await removed(g2.port, providerSessionMs * 10);
  t.comment(`${at()}: g2's session expired, its node left the set`);
  await sleep(300);
  running = false;
  await Promise.all(loops);

  // What the client saw.
  t.same(failures, [], "no failed call, not even one sent to a crashed process before it was seen gone");
  t.ok(calls > 500, `${calls} calls`);
  for (const id of ["g1", "j1", "g2", "j2"]) t.ok((answeredBy.get(id) ?? 0) > 0, `${id} answered calls`);
  const { picks } = await scrape(metricsUrl);
  for (const [name, port] of Object.entries(ports))
    t.ok((picks.get(endpoint(port)) ?? 0) > 0, `serve ${name} took calls (${picks.get(endpoint(port))})`);
  const resent = /^triple_health_proxy_retries_total\{reason="reset"\} (\d+)$/m.exec(
    await (await fetch(metricsUrl)).text(),
  )?.[1];
  t.comment(
    `${calls} calls in ${at()}; answered by ${JSON.stringify(Object.fromEntries(answeredBy))} and ours ${JSON.stringify(Object.fromEntries(Object.entries(ports).map(([n, p]) => [n, picks.get(endpoint(p))])))}; resent after a reset: ${resent} (crashes at ${crashes.map((c) => `+${((c.at - started) / 1000).toFixed(1)} s`).join(", ")})`,
  );
  for (const provider of [s1, s2])
    t.notMatch(provider.stdout, /session-expired/, "no provider session expired");
  t.equal(await proxy.stop("SIGTERM"), 0);
  t.match(
    proxy.stderr,
    /tri:\/\/127\.0\.0\.1:\d+ discovered \(instance level\)/,
    "Java's, found by its instance",
  );
  t.match(proxy.stderr, new RegExp(`tri://127\\.0\\.0\\.1:${g2.port} discovered \\(interface level\\)`));
});
