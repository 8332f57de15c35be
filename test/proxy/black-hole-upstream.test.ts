// An upstream (its own process) whose path turns into a black hole (TCP open, every byte dropped): the proxy's
// keepalive notices it, the stream forwarded there fails with UNAVAILABLE, and calls go to the other upstream.
import t from "tap";
import { createCallClient } from "../../src/client/call-client.ts";
import { createTripleProxy } from "../../src/host/triple-proxy.ts";
import { startBlackHoleRelay } from "../fixtures/black-hole-relay.ts";
import { count, from, grpcClient, grpcGreet, spawnUpstream, until } from "./fixtures/proxy-harness.ts";

const keepalive = { keepaliveTimeMs: 200, keepaliveTimeoutMs: 200, connectTimeoutMs: 500 };
const calmServer = { http2: { minPingIntervalMs: 50 } };

t.test("a black-holed upstream: its stream fails, then calls go to the other upstream", async (t) => {
  const [a, b] = await Promise.all([
    spawnUpstream(t, "a", 0, calmServer),
    spawnUpstream(t, "b", 0, calmServer),
  ]);
  const relay = await startBlackHoleRelay(t, b.port);
  const direct = `http://127.0.0.1:${a.port}`;
  const relayed = `http://${relay.addr}`;
  const proxy = createTripleProxy({
    upstreams: [relayed, direct],
    service: "greet.GreetService",
    upstream: keepalive,
    picker: {
      policy: "round-robin",
      healthClient: keepalive,
      lostStreamGraceMs: 100,
      backoff: { initialMs: 100, maxMs: 500 },
    },
  });
  t.teardown(() => proxy.close({ graceMs: 50 }));
  await proxy.picker.ready();
  const { port } = await proxy.listen(0, "127.0.0.1");
  await until(proxy, () => proxy.picker.routable.length === 2, "both upstreams routable");

  // A long stream on each upstream (round robin); the one on b is cut by the black hole.
  const calls = createCallClient(`127.0.0.1:${port}`, { keepaliveTimeMs: 0 });
  t.teardown(() => calls.close());
  const outcomes = [0, 1].map(async () => {
    let from = "";
    try {
      for await (const message of calls.serverStream(count, { name: "1000:100" })) {
        from = message.greeting.slice(message.greeting.lastIndexOf(" ") + 1);
        if (from === "a") return "a";
      }
      return "ended";
    } catch (error) {
      return { from, error };
    }
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
  relay.blackHole();
  const started = Date.now();
  const results = await Promise.all(outcomes);
  t.ok(results.includes("a"), "the stream on a runs on");
  t.match(
    results.find((r) => typeof r === "object"),
    { from: "b", error: { code: 14 } },
    "the stream on b fails with UNAVAILABLE",
  );
  await until(proxy, () => !proxy.picker.routable.includes(relayed), "b dropped");
  t.ok(Date.now() - started < 200 + 50 + 200 + 5_000, `noticed in ${Date.now() - started} ms`);
  const client = grpcClient(t, `127.0.0.1:${port}`);
  for (let i = 0; i < 6; i++) t.equal(from((await grpcGreet(client, `x${i}`)).greeting), "a");
});
