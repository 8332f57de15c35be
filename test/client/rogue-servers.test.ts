// The client against servers that lie or stay silent: every call ends with a clear RpcError code, within its
// deadline, and holds bounded memory; the endpoint picker keeps serving from a good endpoint beside a rogue one.
import t from "tap";
import { createEndpointPicker } from "../../src/client/endpoint-picker.ts";
import { createHealthClient, type HealthClientOptions } from "../../src/client/health-client.ts";
import { remoteHealthCheck } from "../../src/client/remote-health-check.ts";
import { servingStatusName } from "../../src/codec/health-types.ts";
import { startServer } from "../fixtures/start-server.ts";
import {
  bomb,
  envelope,
  htmlServer,
  type RogueServer,
  rogue,
  rogueHttp2,
  rogueTcp,
  servingMessage,
} from "./fixtures/rogue-servers.ts";

const MiB = 1 << 20;

function heapUsed(): number {
  globalThis.gc?.();
  return process.memoryUsage().heapUsed;
}

/** Check against `server` `times` times; the codes seen, and how much the heap grew meanwhile. */
async function checkCodes(
  server: RogueServer,
  options: HealthClientOptions = {},
  times = 3,
): Promise<{ codes: number[]; messages: string[]; grownMiB: number }> {
  const client = createHealthClient(server.addr, { connectTimeoutMs: 1_000, timeoutMs: 1_000, ...options });
  const before = heapUsed();
  const codes: number[] = [];
  const messages: string[] = [];
  try {
    for (let i = 0; i < times; i++) {
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
    }
  } finally {
    await client.close();
  }
  return { codes, messages, grownMiB: (heapUsed() - before) / MiB };
}

const unique = (codes: number[]) => [...new Set(codes)];

t.test("a server that never answers: DEADLINE_EXCEEDED at the default deadline (10 s, sent)", async (t) => {
  const server = await rogueHttp2(t, rogue.silent);
  const client = createHealthClient(server.addr);
  t.teardown(() => client.close());
  const started = Date.now();
  await t.rejects(client.check(""), { code: 4 });
  t.ok(Date.now() - started >= 9_900, "not before the deadline");
  t.equal(server.requests[0]?.["grpc-timeout"], "10000m", "the default deadline is sent too");
  const list = createHealthClient(server.addr, { timeoutMs: 200 });
  t.teardown(() => list.close());
  await t.rejects(list.list(), { code: 4 }, "List too");
});

t.test("an answer that never ends: DEADLINE_EXCEEDED", async (t) => {
  const { codes, grownMiB } = await checkCodes(await rogueHttp2(t, rogue.neverEnds), { timeoutMs: 200 });
  t.same(unique(codes), [4]);
  t.ok(grownMiB < 8, `heap grew ${grownMiB.toFixed(1)} MiB`);
});

t.test("response headers past the client's limit: a clear error, memory bounded", async (t) => {
  const { codes, messages, grownMiB } = await checkCodes(await rogueHttp2(t, rogue.hugeHeaders(200 * 1024)));
  // node's server will not send a list past the 64 KiB the client advertises: the stream closes unanswered.
  t.same(unique(codes), [14], messages[0] ?? "");
  t.ok(grownMiB < 8, `heap grew ${grownMiB.toFixed(1)} MiB`);
  const under = await checkCodes(await rogueHttp2(t, rogue.status("0")));
  t.same(unique(under.codes), [13], "a trailers-only OK without a message is no answer either");
});

t.test("a 4 GiB length prefix: RESOURCE_EXHAUSTED before anything is allocated", async (t) => {
  const { codes, grownMiB } = await checkCodes(await rogueHttp2(t, rogue.hugeLength));
  t.same(unique(codes), [8]);
  t.ok(grownMiB < 8, `heap grew ${grownMiB.toFixed(1)} MiB`);
});

t.test("a gzip bomb: RESOURCE_EXHAUSTED, inflation stops at maxMessageBytes", async (t) => {
  bomb();
  const { codes, grownMiB } = await checkCodes(await rogueHttp2(t, rogue.gzipBomb));
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
  const { codes, messages, grownMiB } = await checkCodes(storm, {}, 20);
  t.same(unique(codes), [14]);
  t.match(messages[0], /GOAWAY|refused|closed/);
  t.ok(grownMiB < 8, `heap grew ${grownMiB.toFixed(1)} MiB`);
  const after = await checkCodes(await rogueHttp2(t, rogue.goawayAfterCall), { timeoutMs: 200 }, 2);
  t.same(unique(after.codes), [4], "a call the GOAWAY counts as taken, never answered: its deadline");
});

t.test("garbage after the preface, a peer that is no HTTP/2 server: UNAVAILABLE", async (t) => {
  const garbage = await rogueTcp(t, (socket) => socket.write(Buffer.alloc(64 * 1024, 0xab)));
  t.same(unique((await checkCodes(garbage)).codes), [14], "garbage instead of SETTINGS");
  const mute = await rogueTcp(t, () => {});
  const muteRun = await checkCodes(mute, { timeoutMs: 5_000 }, 1);
  t.same(muteRun.codes, [14], "a peer that says nothing");
  t.match(muteRun.messages[0], /timed out/);
  const closer = await rogueTcp(t, (socket) => socket.end("SSH-2.0-OpenSSH_9.6\r\n"));
  t.same(unique((await checkCodes(closer)).codes), [14], "another protocol's banner, then close");
});

t.test("an HTTP/1.1 server answering HTML", async (t) => {
  const server = await htmlServer(t);
  t.same(unique((await checkCodes(server)).codes), [14], "over HTTP/2: no HTTP/2 server there");
  const triple = await checkCodes(server, { protocol: "triple", httpVersion: "1.1" });
  t.same(unique(triple.codes), [13], "triple over HTTP/1.1: 200 with text/html is INTERNAL (as connect-go)");
});

t.test("wrong content-types and grpc-status out of range", async (t) => {
  for (const type of ["text/html", "application/json", "application/grpc-web"]) {
    const { codes } = await checkCodes(await rogueHttp2(t, rogue.contentType(type)), {}, 1);
    t.same(codes, [2], `${type}: UNKNOWN`);
  }
  for (const status of ["17", "99", "-1", "abc", "4294967296"]) {
    const { codes } = await checkCodes(await rogueHttp2(t, rogue.status(status)), {}, 1);
    t.same(codes, [2], `grpc-status ${status}: UNKNOWN`);
  }
});

t.test("the picker keeps routing to a good endpoint beside a rogue one", async (t) => {
  const good = await startServer(t);
  const rogues = [
    await rogueHttp2(t, rogue.silent),
    await rogueHttp2(t, rogue.flood),
    await rogueHttp2(t, rogue.gzipBomb),
    await rogueHttp2(t, rogue.silent, rogue.goawayAtOnce),
    await rogueTcp(t, (socket) => socket.write(Buffer.alloc(1024, 0xab))),
    await htmlServer(t),
  ];
  const endpoints = [good.url, ...rogues.map((r) => `http://${r.addr}`)];
  const picker = createEndpointPicker({
    endpoints,
    healthClient: { connectTimeoutMs: 500 },
    backoff: { initialMs: 50, maxMs: 200 },
  });
  t.teardown(() => picker.close());
  await picker.ready();
  // The flooding endpoint says SERVING (a lie no client can tell); every other rogue is never routed to.
  const flood = `http://${rogues[1]!.addr}`;
  for (let i = 0; i < 100 && !picker.routable.includes(good.url); i++)
    await new Promise((resolve) => setTimeout(resolve, 20));
  const deadline = Date.now() + 2_000;
  while (Date.now() < deadline) {
    t.same(
      picker.routable.filter((e) => e !== flood),
      [good.url],
      JSON.stringify(picker.routable),
    );
    const picked = picker.pick();
    t.ok(picked?.endpoint === good.url || picked?.endpoint === flood);
    picked?.done("success");
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
});

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
