// Upstreams in their own processes, killed with SIGKILL: no NOT_SERVING, no GOAWAY, just a dead port; and
// an upstream that reads a call and drops its connection without a byte of answer. A call already written
// to such an upstream fails UNAVAILABLE, unless the proxy runs with retryOnReset (`-retry-on-reset`).
import http2 from "node:http2";
import type { Socket } from "node:net";
import t, { type Test } from "tap";
import { createCallClient } from "../../src/client/call-client.ts";
import { instrumentProxy } from "../../src/host/proxy-metrics.ts";
import { renderMetrics } from "../../src/metrics/exposition.ts";
import { MetricRegistry } from "../../src/metrics/metric-registry.ts";
import { alwaysServing } from "../fixtures/always-serving.ts";
import { listenLocal } from "../fixtures/start-server.ts";
import {
  count,
  from,
  grpcClient,
  grpcGreet,
  spawnUpstream,
  startProxy,
  startUpstream,
  until,
} from "./fixtures/proxy-harness.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A real HTTP/2 server that reads each call whole, then destroys its connection without answering (as a
 * process dying right after it took the call would); `headersFirst`: after sending the response head.
 */
async function droppingUpstream(t: Test, headersFirst = false): Promise<{ url: string; received: number[] }> {
  const server = http2.createServer();
  const received: number[] = [];
  // Its only connection is the proxy's forwarding one (health is scripted in these tests).
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => sockets.add(socket));
  server.on("stream", (stream) => {
    stream.on("error", () => {});
    let bytes = 0;
    stream.on("data", (chunk: Buffer) => (bytes += chunk.length));
    stream.on("end", () => {
      received.push(bytes);
      if (headersFirst) stream.respond({ ":status": 200, "content-type": "application/grpc" });
      // After the head is on the wire: the proxy has forwarded it before the connection goes.
      setTimeout(
        () => {
          for (const socket of sockets) socket.destroy();
        },
        headersFirst ? 100 : 0,
      );
    });
  });
  return { url: (await listenLocal(server, t)).url, received };
}

t.test("an upstream killed without a word: its calls fail over, then it is ejected", async (t) => {
  const ups = await Promise.all(["a", "b"].map((id) => startUpstream(t, id)));
  const killed = await spawnUpstream(t, "k");
  const killedUrl = `http://127.0.0.1:${killed.port}`;
  const { proxy, address, events } = await startProxy(t, [...ups.map((u) => u.url), killedUrl], {
    // A long grace keeps the dead upstream "SERVING": only call failures can tell.
    lostStreamGraceMs: 60_000,
    backoff: { initialMs: 60_000, maxMs: 60_000 },
    outlier: { consecutiveFailures: 2, baseEjectionMs: 60_000 },
  });
  await until(proxy, () => proxy.picker.healthyCount === 3, "three healthy");
  const client = grpcClient(t, address);
  t.equal(from((await grpcGreet(client, "x")).greeting).length, 1);
  killed.child.kill("SIGKILL");
  await new Promise((resolve) => killed.child.once("exit", resolve));
  await until(
    proxy,
    () => events.some((e) => e.type === "disconnected" && e.endpoint === killedUrl),
    "the lost stream",
  );
  t.equal(proxy.picker.healthyCount, 3, "still counted SERVING within the grace");
  const results = await Promise.all(Array.from({ length: 12 }, (_, i) => grpcGreet(client, `k${i}`)));
  t.equal(results.length, 12, "no call failed: refused attempts went to another upstream");
  t.notOk(results.some((r) => from(r.greeting) === "k"));
  t.ok(proxy.stats.retried >= 2, "calls were retried");
  t.match(
    events.find((e) => e.type === "ejected"),
    { endpoint: killedUrl, durationMs: 60_000 },
  );
  t.notOk(proxy.picker.routable.includes(killedUrl));
});

t.test("an upstream dying mid-stream: the gRPC caller gets UNAVAILABLE in the trailers", async (t) => {
  const killed = await spawnUpstream(t, "k");
  const { proxy, address } = await startProxy(t, [`http://127.0.0.1:${killed.port}`], {
    lostStreamGraceMs: 60_000,
  });
  await until(proxy, () => proxy.picker.healthyCount === 1, "healthy");
  const calls = createCallClient(`http://${address}`, { protocol: "grpc" });
  t.teardown(() => calls.close());
  const messages: string[] = [];
  const error = await (async () => {
    try {
      for await (const message of calls.serverStream(count, { name: "100:50" })) {
        messages.push(message.greeting);
        if (messages.length === 2) killed.child.kill("SIGKILL");
      }
    } catch (error) {
      return error;
    }
    return undefined;
  })();
  t.ok(messages.length >= 2);
  t.match(error, { code: 14, message: /upstream stream reset/ });
  t.equal(proxy.stats.broken, 1);
});

t.test("a call read by an upstream that then drops its connection without answering", async (t) => {
  // Health scripted SERVING and no ejection: only the forwarding is under test. Round robin starts with the
  // first upstream, so the first call goes to the dropping one.
  const picker = { healthSource: alwaysServing, outlier: { consecutiveFailures: 0 } };

  t.test("by default: UNAVAILABLE, not resent (the server may have run it)", async (t) => {
    const dropping = await droppingUpstream(t);
    const good = await startUpstream(t, "good");
    const { proxy, address } = await startProxy(t, [dropping.url, good.url], picker);
    const client = grpcClient(t, address);
    await t.rejects(grpcGreet(client, "once"), {
      code: 14,
      details: `upstream ${dropping.url} failed before answering`,
    });
    t.equal(dropping.received.length, 1, "the upstream had read the call");
    t.same(good.seen, [], "never sent to the other upstream");
    t.match(proxy.stats, { retried: 0, retriedOnReset: 0, unavailable: 1 });
  });

  t.test("retryOnReset: resent to the other upstream, which answers", async (t) => {
    const dropping = await droppingUpstream(t);
    const good = await startUpstream(t, "good");
    const { proxy, address } = await startProxy(t, [dropping.url, good.url], picker, { retryOnReset: true });
    const client = grpcClient(t, address);
    t.equal(from((await grpcGreet(client, "once")).greeting), "good");
    t.equal(dropping.received.length, 1, "the upstream had read the call");
    t.same(
      good.seen.map((s) => s.name),
      ["once"],
      "the same request, resent",
    );
    t.match(proxy.stats, { retried: 0, retriedOnReset: 1, unavailable: 0 });
    const metrics = new MetricRegistry();
    instrumentProxy(metrics, proxy);
    const text = renderMetrics(metrics, "text");
    t.match(text, /^triple_health_proxy_retries_total\{reason="reset"\} 1$/m, "counted by its reason");
    t.match(text, /^triple_health_proxy_retries_total\{reason="unprocessed"\} 0$/m);
  });

  t.test("retryOnReset: not resent once the replay buffer let the body go", async (t) => {
    const dropping = await droppingUpstream(t);
    const good = await startUpstream(t, "good");
    const { proxy, address } = await startProxy(t, [dropping.url, good.url], picker, {
      retryOnReset: true,
      maxReplayBytes: 8,
    });
    // The 5-byte gRPC prefix and a 12-byte message: more than the 8 bytes held.
    await t.rejects(grpcGreet(grpcClient(t, address), "a long name"), { code: 14 });
    t.same(good.seen, []);
    t.match(proxy.stats, { retriedOnReset: 0, unavailable: 1 });
  });

  t.test("retryOnReset: not resent past maxAttempts", async (t) => {
    const dropping = await droppingUpstream(t);
    const good = await startUpstream(t, "good");
    const { proxy, address } = await startProxy(t, [dropping.url, good.url], picker, {
      retryOnReset: true,
      maxAttempts: 1,
    });
    await t.rejects(grpcGreet(grpcClient(t, address), "once"), { code: 14 });
    t.same(good.seen, []);
    t.match(proxy.stats, { retriedOnReset: 0, unavailable: 1 });
  });

  t.test("retryOnReset: never resent once a response byte went to the caller", async (t) => {
    const dropping = await droppingUpstream(t, true);
    const good = await startUpstream(t, "good");
    const { proxy, address } = await startProxy(t, [dropping.url, good.url], picker, { retryOnReset: true });
    await t.rejects(grpcGreet(grpcClient(t, address), "once"), {
      code: 14,
      details: /upstream stream reset/,
    });
    t.equal(dropping.received.length, 1);
    t.same(good.seen, []);
    t.match(proxy.stats, { retriedOnReset: 0, broken: 1 });
  });
});

for (const retryOnReset of [false, true]) {
  t.test(`an upstream process killed while it holds a call, retryOnReset ${retryOnReset}`, async (t) => {
    const killed = await spawnUpstream(t, "k");
    const killedUrl = `http://127.0.0.1:${killed.port}`;
    const other = await startUpstream(t, "a");
    const { proxy, address } = await startProxy(
      t,
      [killedUrl, other.url],
      { lostStreamGraceMs: 60_000, outlier: { consecutiveFailures: 0 } },
      { retryOnReset },
    );
    await until(proxy, () => proxy.picker.healthyCount === 2, "both healthy");
    const client = grpcClient(t, address);
    // Round robin from the first upstream: one call each opens both connections, the third goes to the
    // process to be killed, which holds it for 2 s.
    t.same(
      [from((await grpcGreet(client, "w0")).greeting), from((await grpcGreet(client, "w1")).greeting)],
      ["k", "a"],
    );
    const slow = grpcGreet(client, "slow:2000").then(
      (result) => from(result.greeting),
      (error: Error & { code?: number }) => error,
    );
    await until(proxy, () => proxy.stats.attempts.get(killedUrl) === 2, "the call sent to k");
    // Its connection is open, so the request goes out at once: let the process read it.
    await sleep(300);
    killed.child.kill("SIGKILL");
    const outcome = await slow;
    if (retryOnReset) {
      t.equal(outcome, "a", "answered by the other upstream");
      t.equal(proxy.stats.retriedOnReset, 1);
    } else {
      t.match(outcome, { code: 14, details: `upstream ${killedUrl} failed before answering` });
      t.equal(proxy.stats.retriedOnReset, 0);
    }
    t.equal(proxy.stats.retried, 0, "nothing counted as never having reached its server");
  });
}
