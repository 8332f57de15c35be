// The rolling restart: three `serve -registry` providers, a consumer that follows the registry (a
// children watch on the interface's providers, as dubbo-go's registry directory) and each provider's
// health (a Watch of its service key, the HealthFollower of src/client), calling Greet all the time on
// the providers registered and SERVING — no retries, no failover. Each provider in turn gets SIGTERM and
// is started again: zero failed calls.
import t from "tap";
import { freePort } from "../../bench/lib/zookeeper-ensemble.mjs";
import { type CallClient, createCallClient } from "../../src/client/call-client.ts";
import { createHealthClient } from "../../src/client/health-client.ts";
import { HealthFollower } from "../../src/client/health-follower.ts";
import { resolveBackoff } from "../../src/client/picker-backoff.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { createMessageCodec } from "../../src/codec/message-codec.ts";
import { loadProtoFiles } from "../../src/codec/proto-files.ts";
import { parseProviderUrl, providerMatches, providersPath } from "../../src/discovery/dubbo/interface-url.ts";
import { ZooKeeperClient } from "../../src/discovery/zookeeper/index.ts";
import { eventually } from "../fixtures/dubbo-consumer.ts";
import { startProvider } from "../fixtures/dubbo-provider.ts";
import { needsZooKeeper, startEnsemble } from "../fixtures/zookeeper-ensemble.ts";

const want = { service: "greet.GreetService", group: "g1", version: "1.0.0" };
const root = loadProtoFiles("greet.proto");
const greet = {
  service: "greet.GreetService",
  method: "Greet",
  input: createMessageCodec<{ name: string }>(root.lookupType("greet.GreetRequest")),
  output: createMessageCodec<{ greeting: string }>(root.lookupType("greet.GreetResponse")),
};

interface Endpoint {
  port: number;
  calls: CallClient;
  follower: HealthFollower;
  health: ReturnType<typeof createHealthClient>;
  status: ServingStatus | undefined;
}

t.test("rolling SIGTERM restart: zero failed calls", needsZooKeeper(), async (t) => {
  const ensemble = await startEnsemble(t);
  const providerPorts = [await freePort(), await freePort(), await freePort()];
  const providers = providerPorts.map((port) =>
    startProvider(t, ensemble.connectString, port, ["-drain-delay=1s"]),
  );
  for (const provider of providers)
    await provider.line(/"registry":"registered","path":"\/services\//, 90_000);

  const zk = new ZooKeeperClient({ servers: ensemble.servers, sessionTimeoutMs: 4000 });
  zk.start();
  await zk.waitConnected(10_000);
  const endpoints = new Map<number, Endpoint>();
  let mark = (_what: string) => {};
  const retired: Endpoint[] = [];
  let closed = false;
  const follow = async (): Promise<void> => {
    if (closed) return;
    const nodes = await zk.getChildren(
      providersPath("dubbo", want.service),
      () => void follow().catch(() => {}),
    );
    const live = new Set(
      nodes
        .map((node) => parseProviderUrl(node))
        .filter((url) => url !== undefined && providerMatches(url, want))
        .map((url) => url!.port),
    );
    for (const [port, endpoint] of endpoints)
      if (!live.has(port)) {
        mark(`registry dropped ${port}`);
        endpoints.delete(port);
        retired.push(endpoint); // closed at the end: calls in flight on it finish
      }
    for (const port of live) {
      if (endpoints.has(port)) continue;
      const health = createHealthClient(`tri://127.0.0.1:${port}`, { protocol: "triple" });
      const endpoint: Endpoint = {
        port,
        calls: createCallClient(`tri://127.0.0.1:${port}`, { protocol: "triple", timeoutMs: 5000 }),
        health,
        status: undefined,
        follower: new HealthFollower(
          health,
          "g1/greet.GreetService:1.0.0",
          { backoff: resolveBackoff({ initialMs: 100, maxMs: 1000 }) },
          {
            onStatus: (status) => {
              if (status !== ServingStatus.Serving) mark(`${port} ${status}`);
              endpoint.status = status;
            },
            onLost: () => {
              endpoint.status = undefined;
            },
          },
        ),
      };
      endpoints.set(port, endpoint);
      endpoint.follower.follow();
    }
  };
  await follow();
  t.ok(
    await eventually(
      () => [...endpoints.values()].filter((e) => e.status === ServingStatus.Serving).length === 3,
    ),
  );

  const t0 = Date.now();
  const timeline: string[] = [];
  mark = (what: string) => void timeline.push(`${what} at +${Date.now() - t0} ms`);
  let ok = 0;
  // Every failed call, on any provider: a restarting one (what a bad shutdown order causes) or one listed,
  // SERVING and untouched (what the client's race with a server closing a session caused, until calls the
  // server never processed were retried transparently). Must be none.
  const failures: string[] = [];
  let restarting: number | undefined;
  let next = 0;
  const worker = async () => {
    while (!closed) {
      const eligible = [...endpoints.values()].filter((e) => e.status === ServingStatus.Serving);
      if (eligible.length === 0) {
        failures.push("no provider registered and SERVING");
        await new Promise((resolve) => setTimeout(resolve, 10));
        continue;
      }
      const endpoint = eligible[next++ % eligible.length]!;
      try {
        const reply = await endpoint.calls.unary(
          greet,
          { name: "fleet" },
          {
            metadata: { "tri-service-group": "g1", "tri-service-version": "1.0.0" },
          },
        );
        if (reply.greeting === "hello fleet") ok++;
        else failures.push(`odd reply ${JSON.stringify(reply)}`);
        // Continuous but paced (four callers, each about 200 calls a second): a consumer's load, not a flood
        // that a 2-core machine shared with ZooKeeper and three servers turns into session errors.
        await new Promise((resolve) => setTimeout(resolve, 5));
      } catch (error) {
        const listed = endpoints.get(endpoint.port) === endpoint;
        const role = endpoint.port === restarting ? "restarting" : "untouched";
        failures.push(
          `${endpoint.port} (${role}): ${(error as Error).message} (at +${Date.now() - t0} ms, ${listed ? "listed" : "retired"}, status ${endpoint.status}; ${timeline.slice(-3).join("; ")})`,
        );
      }
    }
  };
  const workers = [worker(), worker(), worker(), worker()];

  if (process.env["ROLLING_CONTROL"] !== undefined)
    await new Promise((resolve) => setTimeout(resolve, 60_000));
  else
    for (let i = 0; i < providers.length; i++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      restarting = providerPorts[i];
      mark(`SIGTERM ${providerPorts[i]}`);
      t.equal(await providers[i]!.stop("SIGTERM"), 0, `provider ${i} exits 0`);
      mark(`exited ${providerPorts[i]}`);
      t.match(providers[i]!.stdout, /"registry":"unregistered"/);
      providers[i] = startProvider(t, ensemble.connectString, providerPorts[i]!, ["-drain-delay=1s"]);
      await providers[i]!.line(/"registry":"registered","path":"\/services\//, 90_000);
      t.ok(
        await eventually(() => endpoints.get(providerPorts[i]!)?.status === ServingStatus.Serving, 15_000),
        `provider ${i} back in the consumer's list`,
      );
      restarting = undefined;
    }
  await new Promise((resolve) => setTimeout(resolve, 500));
  closed = true;
  await Promise.all(workers);
  t.same(failures, [], "zero failed calls on every provider, restarting or untouched");
  t.ok(ok > 100, `calls answered: ${ok}`);
  t.comment(
    `${ok} calls answered ${process.env["ROLLING_CONTROL"] !== undefined ? "in the control run (no restart)" : "during the rolling restart"}; ${failures.length} failed`,
  );
  for (const endpoint of [...endpoints.values(), ...retired]) {
    endpoint.follower.close();
    await endpoint.calls.close();
    await endpoint.health.close();
  }
  await zk.close();
});
