// The proxy between real servers on 127.0.0.1 and real clients: three upstreams (our TripleServer
// serving greet.GreetService, each greeting with its own id), the picker and proxy between them, and
// @grpc/grpc-js, our own call client (triple over HTTP/2 and HTTP/1.1) and raw HTTP as callers.
import http from "node:http";
import http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import t from "tap";
import { createCallClient } from "../../src/client/call-client.ts";
import { createHealthClient } from "../../src/client/health-client.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { createTripleProxy } from "../../src/host/triple-proxy.ts";
import { createTripleServer } from "../../src/host/triple-server.ts";
import { ConfigError } from "../../src/wire/config-error.ts";
import { encodeEnvelope } from "../../src/wire/envelope-encoder.ts";
import { startServer } from "../fixtures/start-server.ts";
import { addGreetServices, greetRequest } from "./fixtures/greet-services.ts";
import {
  count,
  from,
  greet,
  grpcClient,
  grpcGreet,
  startProxy,
  startUpstream,
  type Upstream,
  until,
} from "./fixtures/proxy-harness.ts";

t.test(
  "forwards gRPC, triple and gRPC-Web over HTTP/2 and HTTP/1.1, round robin, trailers intact",
  async (t) => {
    const ups = await Promise.all(["a", "b", "c"].map((id) => startUpstream(t, id)));
    const { proxy, address } = await startProxy(
      t,
      ups.map((u) => u.url),
    );
    await until(proxy, () => proxy.picker.healthyCount === 3, "three healthy");

    const client = grpcClient(t, address);
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const { greeting, trailers } = await grpcGreet(client, "grpc-js");
      seen.add(from(greeting));
      t.same(trailers.get("x-upstream-id"), [from(greeting)], "gRPC trailer metadata passed through");
    }
    t.same([...seen].sort(), ["a", "b", "c"], "every upstream took calls");

    for (const [protocol, httpVersion] of [
      ["triple", "2"],
      ["triple", "1.1"],
    ] as const) {
      const calls = createCallClient(`http://${address}`, { protocol, httpVersion, timeoutMs: 5000 });
      t.teardown(() => calls.close());
      const trailers: string[][] = [];
      const greetings: string[] = [];
      for (let i = 0; i < 3; i++) {
        const response = await calls.unary(
          greet,
          { name: protocol },
          { onTrailer: (m) => trailers.push(m.get("x-upstream-id") ?? []) },
        );
        greetings.push(from(response.greeting));
      }
      t.same(greetings.sort(), ["a", "b", "c"], `triple over HTTP/${httpVersion}`);
      t.same(trailers.flat().sort(), ["a", "b", "c"], "trailer metadata (Trailer- headers) passed through");
      // Server streaming streams through.
      const messages: string[] = [];
      for await (const message of calls.serverStream(count, { name: "3:10" }))
        messages.push(message.greeting);
      t.equal(messages.length, 3);
      t.equal(new Set(messages.map(from)).size, 1, "one upstream per stream");
    }

    // gRPC-Web over HTTP/1.1: the trailers travel in the body and must arrive whole.
    const body = encodeEnvelope(0, greetRequest.encode({ name: "web" }, "proto"));
    const web = await new Promise<{ status: number; type: string | undefined; body: Buffer }>(
      (resolve, reject) => {
        const req = http.request(
          `http://${address}/greet.GreetService/Greet`,
          { method: "POST", headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" } },
          (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () =>
              resolve({
                status: res.statusCode ?? 0,
                type: res.headers["content-type"],
                body: Buffer.concat(chunks),
              }),
            );
          },
        );
        req.on("error", reject);
        req.end(body);
      },
    );
    t.equal(web.status, 200);
    t.equal(web.type, "application/grpc-web+proto");
    t.match(web.body.toString("latin1"), /grpc-status: ?0/, "gRPC-Web trailer frame");
    t.match(web.body.toString("latin1"), /hello web from [abc]/);
    t.equal(proxy.stats.unavailable, 0);
    t.equal(proxy.stats.calls, 15, "6 gRPC + 2 × (3 unary + 1 stream) + 1 gRPC-Web");
  },
);

t.test("the proxy hosts its own health: SERVING while one upstream is", async (t) => {
  const ups = await Promise.all(["a", "b"].map((id) => startUpstream(t, id)));
  const { proxy, address } = await startProxy(
    t,
    ups.map((u) => u.url),
  );
  await until(proxy, () => proxy.picker.healthyCount === 2, "two healthy");
  const health = createHealthClient(`http://${address}`, { timeoutMs: 5000 });
  t.teardown(() => health.close());
  t.equal(await health.check(""), ServingStatus.Serving);
  t.equal(await health.check("greet.GreetService"), ServingStatus.Serving);
  const controller = new AbortController();
  const statuses = health.watch("greet.GreetService", { signal: controller.signal });
  t.equal((await statuses.next()).value, ServingStatus.Serving);
  ups[0]!.server.health.drain();
  await until(proxy, () => proxy.picker.healthyCount === 1, "one healthy");
  t.equal(await health.check(""), ServingStatus.Serving, "one upstream is enough");
  ups[1]!.server.health.drain();
  t.equal((await statuses.next()).value, ServingStatus.NotServing, "Watch on the proxy sees it");
  t.equal(await health.check("greet.GreetService"), ServingStatus.NotServing);
  ups[0]!.server.health.resume();
  t.equal((await statuses.next()).value, ServingStatus.Serving);
  controller.abort();
});

t.test("a drained upstream gets no new calls; its call in flight finishes", async (t) => {
  const ups = await Promise.all(["a", "b", "c"].map((id) => startUpstream(t, id)));
  const { proxy, address } = await startProxy(
    t,
    ups.map((u) => u.url),
  );
  await until(proxy, () => proxy.picker.healthyCount === 3, "three healthy");
  const client = grpcClient(t, address);
  const slow = grpcGreet(client, "slow:400");
  const hasSlow = (u: Upstream) => u.seen.some((c) => c.name === "slow:400");
  await until(proxy, () => ups.some(hasSlow), "the slow call to arrive");
  const target = ups.find(hasSlow);
  target!.server.health.drain();
  await until(proxy, () => proxy.picker.healthyCount === 2, "the drain to be seen");
  const before = target!.seen.length;
  const greetings = await Promise.all(Array.from({ length: 30 }, (_, i) => grpcGreet(client, `n${i}`)));
  t.equal(target!.seen.length, before, "no new call reached the drained upstream");
  t.notOk(greetings.some((g) => from(g.greeting) === target!.id));
  const finished = await slow;
  t.equal(from(finished.greeting), target!.id, "the call in flight finished on its upstream");
  target!.server.health.resume();
  await until(proxy, () => proxy.picker.healthyCount === 3, "resume to be seen");
});

t.test(
  "an upstream closed gracefully is dropped at once; restarted on the same port, it is back",
  async (t) => {
    const ups = await Promise.all(["a", "b", "c"].map((id) => startUpstream(t, id)));
    const { proxy, address, events } = await startProxy(
      t,
      ups.map((u) => u.url),
    );
    await until(proxy, () => proxy.picker.healthyCount === 3, "three healthy");
    const client = grpcClient(t, address);
    const victim = ups[2]!;
    await victim.server.close({ graceMs: 50 });
    await until(proxy, () => proxy.picker.healthyCount === 2, "the close to be seen");
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => grpcGreet(client, `m${i}`)));
    t.notOk(results.some((r) => from(r.greeting) === "c"));
    t.ok(events.some((e) => e.type === "disconnected" && e.endpoint === victim.url));
    // Restart on the same port: the health stream reconnects (backoff) and calls come back.
    victim.server = createTripleServer();
    addGreetServices(victim.server, "c2", victim.seen);
    await victim.server.listen(victim.port, "127.0.0.1");
    await until(proxy, () => proxy.picker.healthyCount === 3, "the restarted upstream");
    t.ok(
      events.some((e) => e.type === "reconnect" && e.endpoint === victim.url),
      "reconnect attempts were made",
    );
    const again = await Promise.all(Array.from({ length: 9 }, (_, i) => grpcGreet(client, `r${i}`)));
    t.ok(
      again.some((r) => from(r.greeting) === "c2"),
      "the restarted upstream takes calls",
    );
  },
);

t.test("all upstreams unhealthy: the panic rule spreads calls over all of them", async (t) => {
  const ups = await Promise.all(["a", "b", "c"].map((id) => startUpstream(t, id)));
  const { proxy, address, events } = await startProxy(
    t,
    ups.map((u) => u.url),
    { panicThreshold: 0.5 },
  );
  await until(proxy, () => proxy.picker.healthyCount === 3, "three healthy");
  for (const u of ups) u.server.health.drain();
  await until(proxy, () => proxy.picker.healthyCount === 0, "all drained");
  t.ok(proxy.picker.panic);
  t.ok(events.some((e) => e.type === "panic" && e.active));
  const client = grpcClient(t, address);
  const results = await Promise.all(Array.from({ length: 9 }, (_, i) => grpcGreet(client, `p${i}`)));
  t.same(
    [...new Set(results.map((r) => from(r.greeting)))].sort(),
    ["a", "b", "c"],
    "calls spread, not refused",
  );
  const health = createHealthClient(`http://${address}`, { timeoutMs: 5000 });
  t.teardown(() => health.close());
  t.equal(await health.check(""), ServingStatus.NotServing, "the proxy says it has no healthy upstream");
});

t.test("no healthy upstream and panic off: UNAVAILABLE in each caller's protocol", async (t) => {
  const ups = await Promise.all(["a", "b"].map((id) => startUpstream(t, id)));
  const { proxy, address } = await startProxy(
    t,
    ups.map((u) => u.url),
    { panicThreshold: 0 },
  );
  await until(proxy, () => proxy.picker.healthyCount === 2, "two healthy");
  for (const u of ups) u.server.health.drain();
  await until(proxy, () => proxy.picker.healthyCount === 0, "all drained");

  const client = grpcClient(t, address);
  await t.rejects(grpcGreet(client, "nobody"), {
    code: grpc.status.UNAVAILABLE,
    details: "no healthy upstream",
  });

  // gRPC Trailers-Only: one HEADERS frame with grpc-status 14.
  const session = http2.connect(`http://${address}`);
  t.teardown(() => session.close());
  const stream = session.request({
    ":method": "POST",
    ":path": "/greet.GreetService/Greet",
    "content-type": "application/grpc",
    te: "trailers",
  });
  stream.end(encodeEnvelope(0, greetRequest.encode({ name: "raw" }, "proto")));
  const [headers, flags] = await new Promise<[http2.IncomingHttpHeaders, number]>((resolve) =>
    stream.once("response", (h, f) => resolve([h, f])),
  );
  stream.resume();
  t.equal(headers["grpc-status"], "14");
  t.ok((flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0, "Trailers-Only");

  // triple unary over HTTP/1.1: HTTP 503 and the JSON error.
  const triple = await fetch(`http://${address}/greet.GreetService/Greet`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "curl" }),
  });
  t.equal(triple.status, 503);
  t.match(await triple.json(), { code: "unavailable", message: "no healthy upstream" });

  // Not an RPC at all: plain 503.
  const plain = await fetch(`http://${address}/index.html`);
  t.equal(plain.status, 503);
  t.equal(await plain.text(), "no healthy upstream\n");
  t.equal(proxy.stats.unavailable, 4);
});

t.test("hop-by-hop headers are dropped, metadata passes", async (t) => {
  const up = await startUpstream(t, "a");
  const { proxy, address } = await startProxy(t, [up.url]);
  await until(proxy, () => proxy.picker.healthyCount === 1, "healthy");
  const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.request(
      `http://${address}/greet.GreetService/Greet`,
      {
        method: "POST",
        headers: {
          "content-type": "application/json",
          connection: "keep-alive, x-hop",
          "x-hop": "dropped",
          "keep-alive": "timeout=5",
          "x-end-to-end": "kept",
        },
      },
      resolve,
    );
    req.on("error", reject);
    req.end(JSON.stringify({ name: "hops" }));
  });
  response.resume();
  t.equal(response.statusCode, 200);
  const metadata = up.seen.at(-1)!.metadata;
  t.same(metadata.get("x-end-to-end"), ["kept"]);
  t.notOk(metadata.has("x-hop"));
  t.notOk(metadata.has("keep-alive"));
  t.notOk(metadata.has("connection"));
});

t.test("a call whose upstream resets before answering gets UNAVAILABLE, not a hang", async (t) => {
  const up = await startUpstream(t, "a");
  const { proxy, address } = await startProxy(t, [up.url], { lostStreamGraceMs: 60_000 });
  await until(proxy, () => proxy.picker.healthyCount === 1, "healthy");
  const client = grpcClient(t, address);
  const slow = grpcGreet(client, "slow:5000");
  await until(proxy, () => up.seen.length === 1, "the call to arrive");
  // Close with no grace: the call in flight is cut off after reaching the server (not retried).
  void up.server.close({ graceMs: 0 });
  await t.rejects(slow, { code: grpc.status.UNAVAILABLE });
  t.equal(proxy.stats.retried, 0);
});

t.test("bad options", async (t) => {
  t.throws(() => createTripleProxy({ upstreams: ["127.0.0.1:1"], maxAttempts: 0 }), ConfigError);
  t.throws(() => createTripleProxy({ upstreams: [] }), ConfigError);
  const proxy = createTripleProxy({
    upstreams: ["127.0.0.1:1"],
    picker: { backoff: { initialMs: 10_000, maxMs: 10_000 } },
  });
  await proxy.listen(0);
  await t.rejects(proxy.listen(0), /already listening/);
  await proxy.close();
  await proxy.close();
  t.equal(proxy.port > 0, true);
  const never = createTripleProxy({ upstreams: ["127.0.0.1:1"] });
  await never.close();
});

t.test("TLS upstreams: health and calls over https with the given CA", async (t) => {
  const { readFileSync } = await import("node:fs");
  const fixture = (name: string) => readFileSync(new URL(`../client/fixtures/${name}`, import.meta.url));
  const { server, port } = await startServer(
    t,
    { tls: { key: fixture("server-key.pem"), cert: fixture("server.pem") } },
    { graceMs: 50 },
  );
  addGreetServices(server, "tls");
  const tls = { ca: fixture("ca.pem") };
  const proxy = createTripleProxy({
    upstreams: [`https://127.0.0.1:${port}`],
    service: "greet.GreetService",
    picker: { healthClient: { tls } },
    upstream: { tls },
  });
  t.teardown(() => proxy.close({ graceMs: 50 }));
  await proxy.picker.ready();
  const address = await proxy.listen(0);
  await until(proxy, () => proxy.picker.healthyCount === 1, "the TLS upstream");
  const client = grpcClient(t, `127.0.0.1:${address.port}`);
  t.equal((await grpcGreet(client, "secure")).greeting, "hello secure from tls");
});
