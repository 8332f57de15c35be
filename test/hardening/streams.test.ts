// Half-closed and reset streams, deadlines and close(): catalogue items 18, 22, 23, 30, 32. Each case checks
// that the watcher and the server stream are freed at once and that a Check is still answered.
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import t from "tap";
import { healthCodecs } from "../../src/codec/health-codecs.ts";
import { Code } from "../../src/wire/code.ts";
import { connect, grpcHeaders, h2exchange } from "../fixtures/h2-request.ts";
import { startServer } from "../fixtures/start-server.ts";
import {
  checkPath,
  checkRequest,
  envelope,
  grpcCheck,
  openWatch,
  readEnvelopes,
  sleep,
  statusOf,
  waitFor,
  watchPath,
} from "./fixtures/attack.ts";

const { server, port } = await startServer(t);

let crashes = 0;
const onCrash = (): void => {
  crashes++;
};
process.on("uncaughtException", onCrash);
process.on("unhandledRejection", onCrash);

const freed = (): boolean => server.health.watcherCount === 0 && server.handler.activeStreams === 0;

t.afterEach(async () => {
  t.ok(await waitFor(freed, 3000), "no watcher or server stream left");
  t.equal(await grpcCheck(port), 1, "a Check still answers SERVING");
});

t.test("18. a 1 ms timeout on a Watch: DEADLINE_EXCEEDED, watcher freed", async (t) => {
  const session = await connect(port);
  for (const timeout of ["1m", "1000u", "5m"]) {
    const result = await h2exchange(session, grpcHeaders(watchPath, { "grpc-timeout": timeout }), {
      body: [envelope(0, checkRequest(""))],
    });
    t.equal(result.grpcStatus, Code.DeadlineExceeded, `grpc-timeout ${timeout}: DEADLINE_EXCEEDED`);
    const messages = readEnvelopes(result.body);
    t.ok(messages.length <= 1, `at most the first status before the deadline (${messages.length})`);
  }
  session.destroy();
});

t.test("22. RST_STREAM on a Watch removes the watcher at once", async (t) => {
  const session = await connect(port);
  for (const code of [
    http2.constants.NGHTTP2_CANCEL,
    http2.constants.NGHTTP2_INTERNAL_ERROR,
    http2.constants.NGHTTP2_NO_ERROR,
  ]) {
    const watch = await openWatch(session);
    t.equal(server.health.watcherCount, 1, "watching");
    watch.stream.close(code);
    t.ok(await waitFor(freed, 1000), `RST_STREAM ${code}: freed`);
  }
  session.destroy();
});

t.test("23. the TCP socket destroyed with 100 Watch streams open", async (t) => {
  let socket: net.Socket | undefined;
  const session = await connect(port, {
    createConnection: () => {
      socket = net.connect(port, "127.0.0.1");
      return socket;
    },
  });
  await Promise.all(Array.from({ length: 100 }, () => openWatch(session)));
  t.equal(server.health.watcherCount, 100, "100 watchers");
  socket?.destroy();
  t.ok(await waitFor(freed, 2000), "all 100 removed");
  session.destroy();
});

t.test("a client GOAWAY (session.close) with Watch streams open", async (t) => {
  const session = await connect(port);
  const watches = await Promise.all(Array.from({ length: 10 }, () => openWatch(session)));
  session.close();
  // close() waits for open streams; the server keeps them until the client resets or leaves.
  for (const w of watches) w.stream.close(http2.constants.NGHTTP2_CANCEL);
  t.ok(await waitFor(freed, 2000), "freed");
});

t.test("half-closed and reset requests", async (t) => {
  const session = await connect(port);
  // Headers then RST before any body.
  const early = session.request(grpcHeaders(checkPath), { endStream: false });
  early.on("error", () => {});
  early.close(http2.constants.NGHTTP2_CANCEL);
  // Half an envelope, then RST.
  const mid = session.request(grpcHeaders(watchPath), { endStream: false });
  mid.on("error", () => {});
  mid.write(envelope(0, checkRequest("")).subarray(0, 3));
  await sleep(20);
  mid.close(http2.constants.NGHTTP2_CANCEL);
  // Headers with END_STREAM at once (no body at all).
  const empty = await h2exchange(session, grpcHeaders(checkPath), { body: [] });
  t.equal(empty.grpcStatus, Code.Internal, "no body: INTERNAL");
  // A full request but the client never ends its side: unary answered only after END_STREAM, so it
  // stays pending until the client resets it — no handler runs, nothing leaks.
  const open = await h2exchange(session, grpcHeaders(checkPath), {
    body: [envelope(0, checkRequest(""))],
    end: false,
    timeoutMs: 300,
  });
  t.ok(open.timedOut, "a unary call waits for the end of the request");
  session.destroy();
});

t.test("HTTP/1.1 Watch (Connect streaming) aborted, and half-closed", async (t) => {
  const aborted = await new Promise<number>((resolve) => {
    const request = http.request({
      host: "127.0.0.1",
      port,
      method: "POST",
      path: watchPath,
      agent: false,
      headers: { "content-type": "application/connect+json" },
    });
    request.on("error", () => {});
    request.on("response", (response) => {
      response.once("data", () => {
        const count = server.health.watcherCount;
        request.destroy();
        resolve(count);
      });
    });
    request.end(envelope(0, Buffer.from('{"service":""}')));
  });
  t.equal(aborted, 1, "watching over HTTP/1.1");
  t.ok(await waitFor(freed, 1000), "freed when the client went away");
  // A request body that never ends (chunked, no terminator) with a short server request timeout.
  const slow = await startServer(t, { http1: { requestTimeout: 500, headersTimeout: 500 } });
  const socket = net.connect(slow.port, "127.0.0.1");
  socket.on("error", () => {});
  let answer = "";
  // Read, or 'close' never comes: the server's 408 would sit unread in a paused socket.
  socket.on("data", (chunk: Buffer) => {
    answer += chunk.toString("latin1");
  });
  socket.write(
    `POST ${watchPath} HTTP/1.1\r\nHost: x\r\nContent-Type: application/connect+json\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n`,
  );
  const closed = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 5_000);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  t.ok(closed, "an unfinished request body is cut off by requestTimeout");
  t.match(answer, /^HTTP\/1\.1 408 /, "408 Request Timeout");
  t.ok(
    await waitFor(() => slow.server.health.watcherCount === 0 && slow.server.handler.activeStreams === 0),
    "nothing left",
  );
  await slow.server.close({ graceMs: 0 });
});

t.test(
  "32. close() with Watch streams open: NOT_SERVING, then the end; unary calls in flight finish",
  async (t) => {
    const own = await startServer(t);
    own.server.addService("slow.Slow", {
      Sleep: {
        kind: "unary",
        input: healthCodecs.checkRequest,
        output: healthCodecs.checkResponse,
        handler: async () => {
          await sleep(300);
          return { status: 1 };
        },
      },
    });
    own.server.health.set("svc", 1);
    const session = await connect(own.port);
    const watches = await Promise.all(Array.from({ length: 5 }, () => openWatch(session, "svc")));
    // A unary call whose handler is slow: in flight while closing.
    const slow = h2exchange(session, grpcHeaders("/slow.Slow/Sleep"), {
      body: [envelope(0, checkRequest(""))],
    });
    await sleep(50);
    const closing = own.server.close({ graceMs: 2000 });
    const ends = await Promise.all(watches.map((w) => w.closed));
    const inFlight = await slow;
    await closing;
    t.equal(inFlight.grpcStatus, 0, "the unary call in flight finished OK");
    for (const [i, w] of watches.entries()) {
      t.equal(w.statuses.at(-1), 2, `Watch ${i} saw NOT_SERVING last`);
      t.ok(
        ends[i]?.grpcStatus === 0 || ends[i]?.grpcStatus === Code.Unavailable,
        `Watch ${i} ended OK or UNAVAILABLE`,
      );
    }
    t.equal(own.server.health.watcherCount, 0);
    session.destroy();
  },
);

t.test("totals", async (t) => {
  t.equal(crashes, 0, "no uncaught exception or unhandled rejection");
  t.equal(statusOf(Buffer.from([0x08, 0x01])), 1);
});
