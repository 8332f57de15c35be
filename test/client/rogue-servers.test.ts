// The client against servers that lie or stay silent: every call ends with a clear RpcError code, within its
// deadline, and holds bounded memory; the endpoint picker keeps serving from a good endpoint beside a rogue one.
import t, { type Test } from "tap";
import { createEndpointPicker } from "../../src/client/endpoint-picker.ts";
import { createHealthClient, type HealthClientOptions } from "../../src/client/health-client.ts";
import { remoteHealthCheck } from "../../src/client/remote-health-check.ts";
import { maxResponseHeaderListBytes } from "../../src/client/session-pool.ts";
import { servingStatusName } from "../../src/codec/health-types.ts";
import { startServer } from "../fixtures/start-server.ts";
import { rogueFrames, servingWithHeaders } from "./fixtures/raw-frame-rogue.ts";
import {
  bomb,
  envelope,
  htmlServer,
  type RogueServer,
  rogue,
  rogueHttp2,
  rogueLineup,
  rogueTcp,
  servingMessage,
} from "./fixtures/rogue-servers.ts";

const MiB = 1 << 20;

function heapUsed(): number {
  globalThis.gc?.();
  return process.memoryUsage().heapUsed;
}

// What a call may take past its deadline on a loaded 2-core machine (timers late, event loop busy): a
// call that waited for anything but its deadline would take far longer than this.
const lateMarginMs = 1_500;

/**
 * Check against `server` `times` times; the codes seen, and how much the heap grew meanwhile. Every call
 * must end within its deadline (`timeoutMs`, 1 s here unless given) plus {@link lateMarginMs}.
 */
async function checkCodes(
  t: Test,
  server: RogueServer,
  options: HealthClientOptions = {},
  times = 3,
): Promise<{ codes: number[]; messages: string[]; grownMiB: number; slowestMs: number }> {
  const settings = { connectTimeoutMs: 1_000, timeoutMs: 1_000, ...options };
  const client = createHealthClient(server.addr, settings);
  const before = heapUsed();
  const codes: number[] = [];
  const messages: string[] = [];
  let slowestMs = 0;
  try {
    for (let i = 0; i < times; i++) {
      const started = performance.now();
      await client.check("").then(
        () => {
          codes.push(0);
          messages.push("");
        },
        (error: { code: number; message: string }) => {
          codes.push(error.code);
          messages.push(error.message);
        },
      );
      slowestMs = Math.max(slowestMs, performance.now() - started);
    }
  } finally {
    await client.close();
  }
  const boundMs = settings.timeoutMs + lateMarginMs;
  t.ok(
    slowestMs < boundMs,
    `every call ended in time: slowest ${slowestMs.toFixed(0)} ms (bound ${boundMs} ms)`,
  );
  return { codes, messages, grownMiB: (heapUsed() - before) / MiB, slowestMs };
}

const unique = (codes: number[]) => [...new Set(codes)];

/** How a call settled, and when: its code (0: answered) and how long it took. */
async function timed(call: Promise<unknown>): Promise<{ code: number; ms: number }> {
  const started = performance.now();
  const code = await call.then(
    () => 0,
    (error: { code: number }) => error.code,
  );
  return { code, ms: performance.now() - started };
}

t.test(
  "a server that never answers: DEADLINE_EXCEEDED at the default deadline (10 s, sent), Check and List",
  async (t) => {
    const server = await rogueHttp2(t, rogue.silent);
    const client = createHealthClient(server.addr);
    t.teardown(() => client.close());
    // Both at once: List's default deadline is checked in the same 10 s as Check's.
    const [check, list] = await Promise.all([timed(client.check("")), timed(client.list())]);
    for (const [name, run] of [
      ["Check", check],
      ["List", list],
    ] as const) {
      t.equal(run.code, 4, `${name}: DEADLINE_EXCEEDED`);
      t.ok(run.ms >= 9_900, `${name}: not before the deadline (${run.ms.toFixed(0)} ms)`);
      t.ok(run.ms < 10_000 + lateMarginMs, `${name}: not long after it either`);
      const sent = server.requests.find((headers) => headers[":path"] === `/grpc.health.v1.Health/${name}`);
      t.equal(sent?.["grpc-timeout"], "10000m", `${name}: the default deadline is sent too`);
    }
    const short = createHealthClient(server.addr, { timeoutMs: 200 });
    t.teardown(() => short.close());
    const explicit = await timed(short.list());
    t.equal(explicit.code, 4, "List with a deadline given: that one");
    t.ok(explicit.ms < 200 + lateMarginMs);
  },
);

t.test("an answer that never ends: DEADLINE_EXCEEDED", async (t) => {
  const { codes, grownMiB } = await checkCodes(t, await rogueHttp2(t, rogue.neverEnds), { timeoutMs: 200 });
  t.same(unique(codes), [4]);
  t.ok(grownMiB < 8, `heap grew ${grownMiB.toFixed(1)} MiB`);
});

t.test("response headers past the client's limit: a clear error, memory bounded", async (t) => {
  const { codes, messages, grownMiB } = await checkCodes(
    t,
    await rogueHttp2(t, rogue.hugeHeaders(200 * 1024)),
  );
  // node's server will not send a list past the 64 KiB the client advertises: the stream closes unanswered.
  t.same(unique(codes), [14], messages[0] ?? "");
  t.ok(grownMiB < 8, `heap grew ${grownMiB.toFixed(1)} MiB`);
  const under = await checkCodes(t, await rogueHttp2(t, rogue.status("0")));
  t.same(unique(under.codes), [13], "a trailers-only OK without a message is no answer either");
});

t.test("a 4 GiB length prefix: RESOURCE_EXHAUSTED before anything is allocated", async (t) => {
  const { codes, grownMiB } = await checkCodes(t, await rogueHttp2(t, rogue.hugeLength));
  t.same(unique(codes), [8]);
  t.ok(grownMiB < 8, `heap grew ${grownMiB.toFixed(1)} MiB`);
});

t.test("a gzip bomb: RESOURCE_EXHAUSTED, inflation stops at maxMessageBytes", async (t) => {
  bomb();
  const { codes, grownMiB } = await checkCodes(t, await rogueHttp2(t, rogue.gzipBomb));
  t.same(unique(codes), [8]);
  t.ok(grownMiB < 16, `heap grew ${grownMiB.toFixed(1)} MiB`);
});

t.test("a Watch that floods messages: flow control holds what the client is sent", async (t) => {
  let written = 0;
  const server = await rogueHttp2(t, (stream) => {
    stream.respond({ ":status": 200, "content-type": "application/grpc+proto" });
    const message = envelope(servingMessage);
    const pump = () => {
      while (!stream.destroyed) {
        written++;
        if (!stream.write(message)) break;
      }
      if (!stream.destroyed) stream.once("drain", pump);
    };
    pump();
  });
  const client = createHealthClient(server.addr);
  t.teardown(() => client.close());
  const controller = new AbortController();
  const watch = client.watch("", { signal: controller.signal });
  t.equal((await watch.next()).value, 1);
  // The reader stops: the server can send only what the windows and buffers take, however long it tries.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const sentBytes = written * 7;
  t.ok(
    sentBytes < 4 * MiB,
    `the server got ${(sentBytes / 1024).toFixed(0)} KiB out while the client read nothing`,
  );
  const writtenThen = written;
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.equal(written, writtenThen, "and no more since");
  let seen = 1;
  for await (const _status of watch) if (++seen === 50_000) break;
  t.equal(seen, 50_000, "reading resumes the flow");
});

t.test("a GOAWAY storm: UNAVAILABLE every time, no hang", async (t) => {
  const storm = await rogueHttp2(t, rogue.silent, rogue.goawayAtOnce);
  const { codes, messages, grownMiB } = await checkCodes(t, storm, {}, 20);
  t.same(unique(codes), [14]);
  t.match(messages[0], /GOAWAY|refused|closed/);
  t.ok(grownMiB < 8, `heap grew ${grownMiB.toFixed(1)} MiB`);
  const after = await checkCodes(t, await rogueHttp2(t, rogue.goawayAfterCall), { timeoutMs: 200 }, 2);
  t.same(unique(after.codes), [4], "a call the GOAWAY counts as taken, never answered: its deadline");
});

t.test("garbage after the preface, a peer that is no HTTP/2 server: UNAVAILABLE", async (t) => {
  const garbage = await rogueTcp(t, (socket) => socket.write(Buffer.alloc(64 * 1024, 0xab)));
  t.same(unique((await checkCodes(t, garbage)).codes), [14], "garbage instead of SETTINGS");
  const mute = await rogueTcp(t, () => {});
  const muteRun = await checkCodes(t, mute, { timeoutMs: 5_000 }, 1);
  t.same(muteRun.codes, [14], "a peer that says nothing");
  t.match(muteRun.messages[0], /timed out/);
  const closer = await rogueTcp(t, (socket) => socket.end("SSH-2.0-OpenSSH_9.6\r\n"));
  t.same(unique((await checkCodes(t, closer)).codes), [14], "another protocol's banner, then close");
});

t.test("an HTTP/1.1 server answering HTML", async (t) => {
  const server = await htmlServer(t);
  t.same(unique((await checkCodes(t, server)).codes), [14], "over HTTP/2: no HTTP/2 server there");
  const triple = await checkCodes(t, server, { protocol: "triple", httpVersion: "1.1" });
  t.same(unique(triple.codes), [13], "triple over HTTP/1.1: 200 with text/html is INTERNAL (as connect-go)");
});

t.test("wrong content-types and grpc-status out of range", async (t) => {
  for (const type of ["text/html", "application/json", "application/grpc-web"]) {
    const { codes } = await checkCodes(t, await rogueHttp2(t, rogue.contentType(type)), {}, 1);
    t.same(codes, [2], `${type}: UNKNOWN`);
  }
  for (const status of ["17", "99", "-1", "abc", "4294967296"]) {
    const { codes } = await checkCodes(t, await rogueHttp2(t, rogue.status(status)), {}, 1);
    t.same(codes, [2], `grpc-status ${status}: UNKNOWN`);
  }
});

for (const healthMode of ["watch", "poll"] as const) {
  t.test(`the picker keeps routing to a good endpoint beside every rogue (${healthMode})`, async (t) => {
    const good = await startServer(t);
    const rogues = await rogueLineup(t);
    // On Watch streams a rogue that says SERVING and keeps the stream open is a lie no client can tell.
    const liars = rogues
      .filter((r) => healthMode === "watch" && r.servingOnWatch)
      .map((r) => `http://${r.server.addr}`);
    const endpoints = [good.url, ...rogues.map((r) => `http://${r.server.addr}`)];
    const picker = createEndpointPicker({
      endpoints,
      healthMode,
      pollIntervalMs: 200,
      checkTimeoutMs: 500,
      healthClient: { connectTimeoutMs: 500 },
      // Not faster: fifteen rogues failing every 50 ms would load the machine, not the picker.
      backoff: { initialMs: 100, maxMs: 1_000 },
    });
    t.teardown(() => picker.close());
    await picker.ready();
    for (let i = 0; i < 100 && !picker.routable.includes(good.url); i++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    const deadline = Date.now() + 2_000;
    while (Date.now() < deadline) {
      const routable = picker.routable.filter((e) => !liars.includes(e));
      if (routable.length !== 1 || routable[0] !== good.url) {
        const names = rogues.filter((r) => routable.includes(`http://${r.server.addr}`)).map((r) => r.name);
        t.fail(`routable besides the good one: ${names.join(", ") || "(the good one missing)"}`);
        break;
      }
      const picked = picker.pick();
      t.ok(
        picked?.endpoint === good.url || liars.includes(picked?.endpoint ?? ""),
        "picked the good one (or a liar)",
      );
      picked?.done("success");
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  });
}

t.test("no message is delivered after the caller aborts, however many one chunk held", async (t) => {
  const server = await rogueHttp2(t, (stream) => {
    stream.respond({ ":status": 200, "content-type": "application/grpc+proto" });
    // 10,000 messages in one write: they arrive in few chunks.
    stream.write(Buffer.concat(Array.from({ length: 10_000 }, () => envelope(servingMessage))));
  });
  const client = createHealthClient(server.addr);
  t.teardown(() => client.close());
  const controller = new AbortController();
  let seen = 0;
  for await (const _status of client.watch("", { signal: controller.signal })) {
    if (++seen === 10) controller.abort();
  }
  t.equal(seen, 10);
});

t.test("a status outside the enum (99): kept as proto3 does, named UNKNOWN, never SERVING", async (t) => {
  const server = await rogueHttp2(t, (stream) => {
    stream.respond({ ":status": 200, "content-type": "application/grpc+proto" }, { waitForTrailers: true });
    stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    stream.end(envelope(Buffer.from([0x08, 0x63])));
  });
  const client = createHealthClient(server.addr);
  t.teardown(() => client.close());
  const status = await client.check("");
  t.equal(status, 99);
  t.equal(servingStatusName(status), "UNKNOWN");
  const check = remoteHealthCheck({ client, mode: "check" });
  await t.rejects(Promise.resolve(check.run(new AbortController().signal)), /is UNKNOWN/);
});

t.test("a raw-frame rogue ignoring SETTINGS_MAX_HEADER_LIST_SIZE (HEADERS + CONTINUATION)", async (t) => {
  const limit = maxResponseHeaderListBytes;
  const answer = servingWithHeaders;

  const at = await rogueFrames(t, answer(limit));
  const atRun = await checkCodes(t, at, {}, 2);
  t.same(atRun.codes, [0, 0], "exactly 64 KiB: answered (SERVING)");

  const over = await rogueFrames(t, answer(limit + 1));
  const overRun = await checkCodes(t, over, {}, 3);
  t.same(overRun.codes, [8, 8, 8], "one byte over: RESOURCE_EXHAUSTED, the first call of the connection too");
  t.match(overRun.messages[0], /response headers of 65537 bytes exceed the 65536/);
  t.equal(over.connections, 1, "only the stream is reset: the connection goes on serving calls");

  const trailers = await rogueFrames(t, servingWithHeaders(1_024, limit + 1));
  const trailersRun = await checkCodes(t, trailers, {}, 2);
  t.same(trailersRun.codes, [8, 8], "trailers one byte over: RESOURCE_EXHAUSTED");
  t.match(trailersRun.messages[0], /trailers of 65537 bytes exceed the 65536/);

  // Never acknowledged, our SETTINGS are not in force in nghttp2: 128 KiB fit in the 9 frames it takes.
  const unacked = await rogueFrames(t, answer(128 * 1024), { ackSettings: false });
  const unackedRun = await checkCodes(t, unacked, {}, 3);
  t.same(
    unackedRun.codes,
    [8, 8, 8],
    "SETTINGS never acknowledged, 128 KiB: RESOURCE_EXHAUSTED all the same",
  );
  t.match(unackedRun.messages[2], /response headers of \d+ bytes exceed the 65536/);
  t.ok(unackedRun.grownMiB < 8, `heap grew ${unackedRun.grownMiB.toFixed(1)} MiB`);

  // Past 8 CONTINUATION frames nghttp2 ends the whole connection (its defence against CONTINUATION floods).
  const flood = await rogueFrames(t, answer(4 * MiB), { ackSettings: false });
  const floodRun = await checkCodes(t, flood, {}, 2);
  t.same(floodRun.codes, [13, 13], "4 MiB in CONTINUATION frames: INTERNAL");
  t.match(floodRun.messages[0], /CONTINUATION/);
  t.equal(flood.connections, 2, "the connection is torn down, not left hanging: the next call opens another");
  t.ok(floodRun.grownMiB < 8, `heap grew ${floodRun.grownMiB.toFixed(1)} MiB`);
});
