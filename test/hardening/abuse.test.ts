// Abuse: the limits on watchers, streams, headers and connections, each with its documented default, and
// the guarantee that an abusive client does not starve the others (a bystander keeps getting Checks
// answered). Catalogue items 20, 25, 26, 27, 28, 30, 31, plus List off and the admin surface off by default.

import http2 from "node:http2";
import t from "tap";
import { defaultListLimit } from "../../src/health/health-service.ts";
import { defaultMaxWatchers, HealthRegistry } from "../../src/health/registry.ts";
import { http1Defaults, http2Defaults } from "../../src/server/options.ts";
import { Code } from "../../src/wire/code.ts";
import { connect, grpcHeaders, h2exchange, h2once } from "../fixtures/h2-request.ts";
import { runNode } from "../fixtures/node-process.ts";
import { startServer } from "../fixtures/start-server.ts";
import {
  checkPath,
  checkRequest,
  envelope,
  frame,
  gc,
  grpcCheck,
  h1request,
  listPath,
  openWatch,
  parseFrames,
  preface,
  rawExchange,
  rawRequestFrame,
  readEnvelopes,
  sleep,
  waitFor,
} from "./fixtures/attack.ts";

let answered = 0;
let crashes = 0;
const onCrash = (): void => {
  crashes++;
};
process.on("uncaughtException", onCrash);
process.on("unhandledRejection", onCrash);

/** A bystander: Checks in a loop on its own connection until stopped; counts answers and failures. */
function bystander(port: number): { stop: () => Promise<{ ok: number; failed: number }> } {
  let running = true;
  let ok = 0;
  let failed = 0;
  const loop = (async () => {
    const session = await connect(port);
    try {
      while (running) {
        const result = await h2exchange(session, grpcHeaders(checkPath), {
          body: [envelope(0, checkRequest(""))],
          timeoutMs: 5000,
        });
        if (result.grpcStatus === 0) ok++;
        else failed++;
        await sleep(5);
      }
    } finally {
      session.destroy();
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      answered += ok;
      return { ok, failed };
    },
  };
}

/** Runs a plain-JavaScript fixture in a child process; resolves with its stdout. */
async function runChild(fixture: string, args: string[]): Promise<string> {
  const run = await runNode([new URL(`./fixtures/${fixture}`, import.meta.url).pathname, ...args], {
    loader: false,
  });
  if (run.code !== 0) throw new Error(`${fixture} exited ${run.code}: ${run.stderr}`);
  return run.stdout;
}

t.test("documented defaults", async (t) => {
  t.same(
    { ...http2Defaults },
    {
      maxConcurrentStreams: 256,
      initialWindowSize: 65_535,
      maxHeaderListSize: 64 * 1024,
      maxHeaderListPairs: 128,
      maxSessionMemory: 10,
      sessionIdleTimeoutMs: 0,
      emptySessionTimeoutMs: 300_000,
      requestBodyTimeoutMs: 60_000,
      writeStallTimeoutMs: 30_000,
      keepaliveTimeMs: 60_000,
      keepaliveTimeoutMs: 20_000,
      minPingIntervalMs: 5_000,
    },
    "HTTP/2 defaults (SECURITY.md lists these)",
  );
  t.same(
    { ...http1Defaults },
    {
      headersTimeout: 20_000,
      requestTimeout: 60_000,
      keepAliveTimeout: 5_000,
      maxHeaderSize: 16 * 1024,
      writeStallTimeoutMs: 30_000,
    },
    "HTTP/1.1 defaults (SECURITY.md lists these)",
  );
  t.equal(defaultMaxWatchers, 10_000, "watchers in total");
  t.equal(defaultListLimit, 100, "List limit");
});

t.test("31. watchers in total: one more than maxWatchers is RESOURCE_EXHAUSTED", async (t) => {
  const health = new HealthRegistry({ maxWatchers: 5 });
  // Every client here is 127.0.0.1: the per-address share (half of maxWatchers by default) is off, so
  // that the total is what refuses (watch-share.test.ts tests the share).
  const { server, port } = await startServer(t, {
    health,
    healthService: { maxWatchersPerAddress: Infinity },
  });
  const by = bystander(port);
  const session = await connect(port);
  const watches = [];
  for (let i = 0; i < 5; i++) watches.push(await openWatch(session));
  t.equal(server.health.watcherCount, 5);
  const extra = await h2exchange(session, grpcHeaders("/grpc.health.v1.Health/Watch"), {
    body: [envelope(0, checkRequest(""))],
  });
  t.equal(extra.grpcStatus, Code.ResourceExhausted, "the sixth Watch: RESOURCE_EXHAUSTED");
  t.equal(await grpcCheck(port), 1, "Checks still answered at the limit");
  for (const w of watches) w.stream.close(http2.constants.NGHTTP2_CANCEL);
  t.ok(await waitFor(() => server.health.watcherCount === 0), "all freed on cancel");
  const again = await openWatch(session);
  t.equal(again.statuses[0], 1, "a new Watch works once below the limit");
  again.stream.close(http2.constants.NGHTTP2_CANCEL);
  session.destroy();
  const result = await by.stop();
  t.equal(result.failed, 0, "the bystander never failed");
  t.ok(result.ok > 0, `the bystander got ${result.ok} answers`);
});

t.test("31. watchers per connection: half of maxConcurrentStreams, REFUSED_STREAM beyond it", async (t) => {
  // Each Watch is a stream, and an HTTP/2 connection holds at most maxConcurrentStreams (HTTP/1.1: one);
  // by default at most half of them may be Watch streams, leaving room for unary calls. Raw frames,
  // because node's client would queue.
  const { server, port } = await startServer(t, { http2: { maxConcurrentStreams: 10 } });
  const chunks = [preface, frame(0x4, 0, 0)];
  // 12 Watch streams, each with its request message, none ended by the client.
  for (let i = 0; i < 12; i++) {
    const id = 1 + 2 * i;
    chunks.push(
      rawRequestFrame(id, "/grpc.health.v1.Health/Watch"),
      frame(0x0, 0x1, id, envelope(0, checkRequest(""))),
    );
  }
  const result = await rawExchange(port, [Buffer.concat(chunks)], { timeoutMs: 1000 });
  const frames = parseFrames(result.data);
  const refused = frames
    .filter((f) => f.type === 0x3 && f.payload.readUInt32BE(0) === 7)
    .map((f) => f.streamId);
  t.same(refused, [21, 23], "streams 11 and 12 refused with REFUSED_STREAM");
  const answeredStreams = new Set(frames.filter((f) => f.type === 0x0).map((f) => f.streamId));
  t.same([...answeredStreams], [1, 3, 5, 7, 9], "the first 5 got their status");
  t.ok(await waitFor(() => server.health.watcherCount === 0), "all freed once the socket is gone");
  t.equal(await grpcCheck(port), 1);
});

t.test("20. header size and pairs limits (HTTP/2 and HTTP/1.1)", async (t) => {
  const { port } = await startServer(t);
  const by = bystander(port);
  // 60 KiB of headers fit under 64 KiB; 100 KiB don't.
  const fits = await h2once(port, grpcHeaders(checkPath, { "x-a": "a".repeat(8 * 1024) }), {
    body: [envelope(0, checkRequest(""))],
  });
  t.equal(fits.grpcStatus, 0, "8 KiB header: answered");
  const big = await h2once(port, grpcHeaders(checkPath, { "x-a": "a".repeat(100 * 1024) }), {
    body: [envelope(0, checkRequest(""))],
  });
  t.not(big.grpcStatus, 0, `100 KiB header: refused (rst ${big.rstCode}, ${big.error?.message})`);
  const headers = grpcHeaders(checkPath);
  for (let i = 0; i < 200; i++) headers[`x-p${i}`] = "1";
  const pairs = await h2once(port, headers, { body: [envelope(0, checkRequest(""))] });
  t.not(pairs.grpcStatus, 0, `200 pairs (> 128): refused (rst ${pairs.rstCode}, ${pairs.error?.message})`);
  // HTTP/1.1: 16 KiB head.
  const h1 = await rawExchange(
    port,
    [Buffer.from(`POST ${checkPath} HTTP/1.1\r\nHost: x\r\nX-A: ${"a".repeat(20 * 1024)}\r\n\r\n`)],
    { timeoutMs: 3000 },
  );
  t.ok(h1.closedByServer, "HTTP/1.1 20 KiB head: connection closed");
  t.match(h1.data.toString("latin1"), /^HTTP\/1\.1 4\d\d /, "HTTP/1.1 20 KiB head: a 4xx");
  t.equal(await grpcCheck(port), 1);
  const result = await by.stop();
  t.equal(result.failed, 0, "the bystander never failed");
});

t.test("27. HTTP/1.1 slowloris is closed by the headers timeout; others unaffected", async (t) => {
  const { port } = await startServer(t, { http1: { headersTimeout: 1000, requestTimeout: 2000 } });
  const by = bystander(port);
  const head = `POST ${checkPath} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Slow: ${"a".repeat(200)}\r\n\r\n`;
  const started = Date.now();
  // One byte every 50 ms: 300+ bytes would take 15 s.
  const slow = await rawExchange(
    port,
    [...Buffer.from(head)].map((b) => Buffer.from([b])),
    { gapMs: 50, timeoutMs: 12_000 },
  );
  const took = Date.now() - started;
  t.ok(slow.closedByServer, `closed by the server after ${took} ms`);
  t.ok(took < 10_000, "well before the client finished its head");
  t.match(slow.data.toString("latin1"), /^(HTTP\/1\.1 408 |$)/, "408 or nothing");
  // Slow from the very first byte of an HTTP/2 preface: the sniffer's timeout applies too.
  const slowPreface = await rawExchange(
    port,
    [...preface.subarray(0, 10)].map((b) => Buffer.from([b])),
    { gapMs: 600, timeoutMs: 12_000 },
  );
  t.ok(slowPreface.closedByServer, "a preface trickled in is cut off too");
  // An HTTP/2-looking request line that is not the preface: node's parser would stall on it until the
  // headers timeout; the sniffer answers 400 at once. (H8)
  const pri = await rawExchange(port, [Buffer.from("PRI * HTTP/1.1\r\n\r\n")], { timeoutMs: 8000 });
  t.ok(pri.closedByServer, "PRI * HTTP/1.1 is closed by the server");
  // The headers timeout would have answered 408 (or nothing): a 400 is the sniffer's answer.
  t.match(pri.data.toString("latin1"), /^HTTP\/1\.1 400 /, "with a 400");
  const result = await by.stop();
  t.equal(result.failed, 0, "the bystander never failed");
  t.ok(result.ok > 0, `the bystander got ${result.ok} answers meanwhile`);
});

t.test("idle connections: HTTP/1.1 keep-alive, silent sockets, idle HTTP/2 sessions", async (t) => {
  const { port } = await startServer(t, {
    http1: { headersTimeout: 1000, keepAliveTimeout: 500 },
    http2: { sessionIdleTimeoutMs: 1000 },
  });
  // A socket that never sends a byte.
  const silent = await rawExchange(port, [], { timeoutMs: 6000 });
  t.ok(silent.closedByServer, "a silent socket is closed");
  // HTTP/1.1 keep-alive after one request.
  const started = Date.now();
  const body = '{"service":""}';
  const kept = await rawExchange(
    port,
    [
      Buffer.from(
        `POST ${checkPath} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      ),
    ],
    { timeoutMs: 6000 },
  );
  t.match(kept.data.toString("latin1"), /^HTTP\/1\.1 200 /, "answered");
  t.ok(kept.closedByServer, `idle keep-alive closed after ${Date.now() - started} ms`);
  // HTTP/2: an idle session (no stream) with sessionIdleTimeoutMs set.
  const idle = await rawExchange(port, [preface, frame(0x4, 0, 0)], { timeoutMs: 6000 });
  t.ok(idle.closedByServer, "an idle HTTP/2 session is closed when sessionIdleTimeoutMs is set");
  t.equal(await grpcCheck(port), 1);
});

t.test("idle HTTP/2 connections: sessions without streams are closed, Watch sessions kept", async (t) => {
  // sessionIdleTimeoutMs is 0 by default (a Watch stream may be silent for hours); emptySessionTimeoutMs
  // closes a session that has no open stream — also one the server already sent GOAWAY(error) on, which
  // node:http2 never closes by itself.
  const { server, port } = await startServer(t, { http2: { emptySessionTimeoutMs: 300 } });
  const connections = (): number => (server as unknown as { connections: number }).connections;
  t.type(
    (server as unknown as { connections?: number }).connections,
    "number",
    "the server exposes its open connection count",
  );
  const broken = await rawExchange(port, [preface, frame(0x4, 0, 0), frame(0x0, 0, 0, Buffer.from("x"))], {
    timeoutMs: 3000,
  });
  t.ok(broken.closedByServer, "a connection that got GOAWAY(PROTOCOL_ERROR) is closed by the server");
  const idle = await rawExchange(port, [preface, frame(0x4, 0, 0)], { timeoutMs: 3000 });
  t.ok(idle.closedByServer, "a session with no stream is closed");
  t.ok(await waitFor(() => connections() === 0, 2000), "no connection left");
  const session = await connect(port);
  const watch = await openWatch(session);
  await sleep(800);
  t.notOk(session.closed || session.destroyed, "a session holding a Watch stays open past the timeout");
  t.equal(connections(), 1, "one connection open");
  watch.stream.close(http2.constants.NGHTTP2_CANCEL);
  t.ok(await waitFor(() => session.closed || session.destroyed, 3000), "closed once its last stream ended");
  session.destroy();
});

t.test("25. rapid reset does not starve other clients, nor grow the server", async (t) => {
  const { server, port } = await startServer(t);
  const by = bystander(port);
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const attacker = await runChild("rapid-reset.mjs", [String(port), "3000"]);
  const { opened, sessions, goAwayCodes } = JSON.parse(attacker) as {
    opened: number;
    sessions: number;
    goAwayCodes: number[];
  };
  const result = await by.stop();
  t.ok(
    await waitFor(() => server.health.watcherCount === 0 && server.handler.activeStreams === 0),
    "nothing left open",
  );
  gc();
  const grown = process.memoryUsage().heapUsed - heapBefore;
  t.ok(opened > 100, `the attacker opened and reset ${opened} streams`);
  t.comment(
    `rapid reset: ${opened} streams on ${sessions} sessions (GOAWAY codes ${goAwayCodes.join(",")}); bystander ${result.ok} ok, ${result.failed} failed; heap +${(grown / 1048576).toFixed(1)} MiB`,
  );
  t.equal(result.failed, 0, "the bystander never failed");
  t.ok(result.ok > 0, `the bystander got ${result.ok} answers`);
  t.equal(await grpcCheck(port), 1);
});

t.test("26. a Watch reader that never reads while the status flips 100,000 times", async (t) => {
  const { server, port } = await startServer(t);
  server.health.set("flappy", 1);
  const session = await connect(port, { settings: { initialWindowSize: 16 } });
  const watch = await openWatch(session, "flappy");
  watch.stream.pause();
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 100_000; i++) {
    server.health.set("flappy", i % 2 === 0 ? 2 : 1);
    if (i % 10_000 === 0) await new Promise((r) => setImmediate(r));
  }
  server.health.set("flappy", 2);
  await sleep(100);
  gc();
  const grown = process.memoryUsage().heapUsed - before;
  t.ok(grown < 16 * 1024 * 1024, `heap grew ${(grown / 1048576).toFixed(1)} MiB while flipping (bounded)`);
  watch.stream.resume();
  t.ok(await waitFor(() => watch.statuses.at(-1) === 2, 5000), "the reader ends up with the latest status");
  t.ok(watch.statuses.length < 1000, `coalesced: ${watch.statuses.length} messages for 100,001 changes`);
  watch.stream.close(http2.constants.NGHTTP2_CANCEL);
  session.destroy();
  t.ok(await waitFor(() => server.health.watcherCount === 0), "watcher freed");
});

t.test("30. half-closed client that never reads: freed by the deadline", async (t) => {
  const { server, port } = await startServer(t);
  const session = await connect(port, { settings: { initialWindowSize: 0 } });
  const stream = session.request(grpcHeaders("/grpc.health.v1.Health/Watch", { "grpc-timeout": "300m" }), {
    endStream: false,
  });
  stream.on("error", () => {});
  stream.end(envelope(0, checkRequest("")));
  stream.pause();
  t.ok(await waitFor(() => server.health.watcherCount === 1, 2000), "the Watch is running");
  t.ok(
    await waitFor(() => server.health.watcherCount === 0 && server.handler.activeStreams === 0, 3000),
    "freed by the deadline",
  );
  session.destroy();
});

t.test("List can be turned off; List above its limit", async (t) => {
  const off = await startServer(t, { healthService: { listEnabled: false } });
  const list = await h2once(off.port, grpcHeaders(listPath), { body: [envelope(0, Buffer.alloc(0))] });
  t.equal(list.grpcStatus, Code.Unimplemented, "List disabled: UNIMPLEMENTED");
  t.equal(await grpcCheck(off.port), 1, "Check still served");
  const limited = await startServer(t, { healthService: { listLimit: 3 } });
  for (const name of ["a", "b", "c", "d"]) limited.server.health.set(name, 1);
  const over = await h2once(limited.port, grpcHeaders(listPath), { body: [envelope(0, Buffer.alloc(0))] });
  t.equal(over.grpcStatus, Code.ResourceExhausted, "List above listLimit: RESOURCE_EXHAUSTED");
  const none = await startServer(t, { healthService: false });
  const check = await h2once(none.port, grpcHeaders(checkPath), { body: [envelope(0, checkRequest(""))] });
  t.equal(check.grpcStatus, Code.Unimplemented, "healthService: false hosts nothing");
});

t.test("the admin surface is unreachable by default", async (t) => {
  const { server, port } = await startServer(t);
  for (const path of ["/admin/health", "/livez", "/readyz", "/metrics"]) {
    const get = await h1request(port, { method: "GET", path });
    t.equal(get.status, 405, `GET ${path}: 405 (no plain handlers mounted)`);
  }
  for (const path of ["/admin/drain", "/admin/set"]) {
    const post = await h1request(port, {
      method: "POST",
      path,
      headers: { "content-type": "application/json" },
      body: Buffer.from('{"service":"","status":"NOT_SERVING"}'),
    });
    t.equal(post.status, 404, `POST ${path}: 404`);
    t.match(post.json, { code: "unimplemented" });
  }
  t.notOk(server.health.draining, "not drained");
  t.equal(await grpcCheck(port), 1, "still SERVING");
  const list = await h2once(port, grpcHeaders(listPath), { body: [envelope(0, Buffer.alloc(0))] });
  const [message] = readEnvelopes(list.body);
  t.equal(list.grpcStatus, 0, "List is on by default (turn it off with healthService.listEnabled: false)");
  t.ok(message !== undefined && message.payload[0] === 0x0a, "List answered a map");
});

t.test("totals", async (t) => {
  t.equal(crashes, 0, "no uncaught exception or unhandled rejection");
  t.comment(`requests answered to bystanders during the abuse tests: ${answered}`);
});
