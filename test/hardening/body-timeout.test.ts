// Hardening II item 2: HTTP/2 request bodies were held forever. 2 connections x 100 Check streams each carrying
// half of a 4 MiB message took the server from 73 to 480 MiB RSS and nothing ever reset them, while HTTP/1.1
// answers 408 after requestTimeout (60 s). Now an HTTP/2 stream whose request has not ended
// http2.requestBodyTimeoutMs (default 60 s) after it opened gets DEADLINE_EXCEEDED in its protocol (HTTP 408
// for triple unary and plain HTTP, as HTTP/1.1 answers) and is reset; what it had buffered is freed.
import http2 from "node:http2";
import t from "tap";
import { createTripleProxy } from "../../src/host/triple-proxy.ts";
import { createTripleServer } from "../../src/host/triple-server.ts";
import { http1Defaults, http2Defaults } from "../../src/server/options.ts";
import { Code } from "../../src/wire/code.ts";
import { alwaysServing } from "../fixtures/always-serving.ts";
import { connect, grpcHeaders, h2exchange } from "../fixtures/h2-request.ts";
import { listenLocal, startServer } from "../fixtures/start-server.ts";
import {
  checkPath,
  checkRequest,
  envelope,
  grpcCheck,
  h1Check,
  openWatch,
  rawExchange,
  sleep,
  tripleHeaders,
} from "./fixtures/attack.ts";
import {
  assertBoundedAttack,
  attackerSession,
  type ChildServer,
  mib,
  outcomes,
  startChildServer,
} from "./fixtures/child-server.ts";

const timeoutMs = 1000;

t.test("defaults: 60 s for a request body (HTTP/1.1's requestTimeout), 30 s write stall", async (t) => {
  t.equal(http2Defaults.requestBodyTimeoutMs, 60_000);
  t.equal(http2Defaults.requestBodyTimeoutMs, http1Defaults.requestTimeout, "the same as HTTP/1.1's");
  t.equal(http2Defaults.writeStallTimeoutMs, 30_000);
  t.equal(http1Defaults.writeStallTimeoutMs, 30_000);
});

t.test("bad timeout values are a ConfigError", async (t) => {
  for (const value of [-1, 1.5, Number.NaN, 2 ** 31]) {
    t.throws(() => createTripleServer({ http2: { requestBodyTimeoutMs: value } }), {
      code: "ERR_TRIPLE_HEALTH_CONFIG",
    });
    t.throws(() => createTripleServer({ http2: { writeStallTimeoutMs: value } }), {
      code: "ERR_TRIPLE_HEALTH_CONFIG",
    });
    t.throws(() => createTripleServer({ http1: { writeStallTimeoutMs: value } }), {
      code: "ERR_TRIPLE_HEALTH_CONFIG",
    });
  }
});

// Half of a 100-byte Check message: the envelope says 100, 50 come, the request never ends.
const halfCheck = envelope(0, Buffer.alloc(50, 0x0a), 100);

t.test("HTTP/2: a request that never ends is answered after requestBodyTimeoutMs", async (t) => {
  const { port } = await startServer(t, {
    http2: { requestBodyTimeoutMs: timeoutMs },
    plainHttpHandlers: [
      (request) => (request.path === "/echo" ? { status: 200, body: request.body } : undefined),
    ],
  });
  const session = await connect(port);
  t.teardown(() => session.destroy());
  const started = Date.now();
  const [grpc, triple, web, plain] = await Promise.all([
    h2exchange(session, grpcHeaders(), { body: [halfCheck], end: false, timeoutMs: 8000 }),
    h2exchange(session, tripleHeaders(checkPath, { "content-length": "100" }), {
      body: [Buffer.from('{"service":')],
      end: false,
      timeoutMs: 8000,
    }),
    h2exchange(
      session,
      { ":method": "POST", ":path": checkPath, "content-type": "application/grpc-web+proto" },
      { body: [halfCheck], end: false, timeoutMs: 8000 },
    ),
    h2exchange(
      session,
      { ":method": "POST", ":path": "/echo" },
      { body: [Buffer.from("x")], end: false, timeoutMs: 8000 },
    ),
  ]);
  const elapsed = Date.now() - started;
  t.equal(grpc.grpcStatus, Code.DeadlineExceeded, "gRPC: DEADLINE_EXCEEDED");
  t.ok(grpc.endedWithHeaders, "gRPC: Trailers-Only");
  t.equal(triple.status, 408, "triple unary: HTTP 408");
  t.match(
    JSON.parse(triple.body.toString()),
    { code: "deadline_exceeded" },
    "triple unary: deadline_exceeded",
  );
  // gRPC-Web carries its status in a trailer frame of the body.
  t.match(web.body.toString("latin1"), /grpc-status: ?4\r\n/, "gRPC-Web: DEADLINE_EXCEEDED");
  t.equal(plain.status, 408, "plain HTTP: 408");
  for (const result of [grpc, triple, web, plain]) {
    t.notOk(result.timedOut, "the server closed the stream itself");
    t.equal(result.rstCode, undefined, "and not with an error code (RST_STREAM NO_ERROR after the answer)");
  }
  t.ok(elapsed >= timeoutMs - 50, `not before the timeout (${elapsed} ms)`);
  t.ok(elapsed < timeoutMs + 4000, `within about the timeout plus the 1 s linger (${elapsed} ms)`);
  t.notOk(session.destroyed, "the connection stays");
  t.equal(await grpcCheck(port), 1, "a Check on a new connection answers SERVING");
  const again = await h2exchange(session, grpcHeaders(), { body: [envelope(0, checkRequest(""))] });
  t.equal(again.grpcStatus, 0, "and one on the same connection");
});

t.test("HTTP/2: requests that end in time, and Watch streams, are not cut", async (t) => {
  const { port } = await startServer(t, { http2: { requestBodyTimeoutMs: 300 } });
  const session = await connect(port);
  t.teardown(() => session.destroy());
  const watch = await openWatch(session);
  // A request whose body trickles in but ends within the timeout.
  const stream = session.request(grpcHeaders(), { endStream: false });
  const body = envelope(0, checkRequest(""));
  stream.write(body.subarray(0, 2));
  await sleep(100);
  const answer = h2exchange(session, grpcHeaders(), { body: [envelope(0, checkRequest(""))] });
  stream.end(body.subarray(2));
  let status: string | undefined;
  stream.on("trailers", (trailers) => {
    status = trailers["grpc-status"] as string;
  });
  stream.resume();
  await new Promise((resolve) => stream.on("close", resolve));
  t.equal(status, "0", "a trickled request ended in time is answered OK");
  t.equal((await answer).grpcStatus, 0);
  await sleep(1200);
  t.notOk(watch.stream.closed, "a Watch (its request ended at once) outlives the body timeout by far");
});

t.test("requestBodyTimeoutMs 0 turns it off", async (t) => {
  const { port } = await startServer(t, { http2: { requestBodyTimeoutMs: 0, writeStallTimeoutMs: 0 } });
  const result = await h2exchange(`http://127.0.0.1:${port}`, grpcHeaders(), {
    body: [halfCheck],
    end: false,
    timeoutMs: 1500,
  });
  t.ok(result.timedOut, "still waiting for the rest of the request after 1.5 s");
});

t.test("HTTP/1.1: the same request gets 408 after requestTimeout", async (t) => {
  const { port } = await startServer(t, { http1: { headersTimeout: 500, requestTimeout: timeoutMs } });
  const started = Date.now();
  const result = await rawExchange(
    port,
    [
      Buffer.from(
        `POST ${checkPath} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"service":`,
      ),
    ],
    { timeoutMs: 8000 },
  );
  t.match(result.data.toString("latin1"), /^HTTP\/1\.1 408 /, "408 Request Timeout");
  t.ok(result.closedByServer, "and the connection closed");
  t.ok(Date.now() - started < timeoutMs + 4000, "within about the timeout");
  t.equal(await h1Check(port), 200, "an HTTP/1.1 Check is answered");
});

// A proxy forwards calls it does not decode, so it cannot know a stream's kind: the timeout applies there too.
t.test("through a proxy: answered DEADLINE_EXCEEDED before the upstream answers, CANCEL after", async (t) => {
  const upstreamServer = http2.createServer();
  upstreamServer.on("stream", (stream, headers) => {
    stream.on("error", () => {});
    stream.resume();
    // /slow never answers; anything else answers its head at once and then waits, like a bidi stream.
    if (headers[":path"] !== "/greet.GreetService/Slow")
      stream.respond({ ":status": 200, "content-type": "application/grpc" });
  });
  const upstream = await listenLocal(upstreamServer, t);
  const proxy = createTripleProxy({
    upstreams: [upstream.url],
    service: "greet.GreetService",
    picker: {
      healthSource: alwaysServing,
      outlier: { consecutiveFailures: 0 },
    },
    http2: { requestBodyTimeoutMs: timeoutMs },
  });
  await proxy.picker.ready();
  const { port } = await proxy.listen(0);
  t.teardown(() => proxy.close({ graceMs: 50 }));
  const session = await connect(port);
  t.teardown(() => session.destroy());
  const [unanswered, started] = await Promise.all([
    h2exchange(session, grpcHeaders("/greet.GreetService/Slow"), {
      body: [halfCheck],
      end: false,
      timeoutMs: 8000,
    }),
    h2exchange(session, grpcHeaders("/greet.GreetService/Chat"), {
      body: [halfCheck],
      end: false,
      timeoutMs: 8000,
    }),
  ]);
  t.equal(unanswered.grpcStatus, Code.DeadlineExceeded, "no answer yet: DEADLINE_EXCEEDED");
  t.notOk(unanswered.timedOut, "and the stream closed by the proxy");
  t.equal(started.status, 200, "an answered call got its head");
  t.equal(started.rstCode, http2.constants.NGHTTP2_CANCEL, "then RST_STREAM(CANCEL)");
  t.notOk(started.timedOut);
  t.equal(await grpcCheck(port), 1, "the proxy's own Check answers SERVING");
});

// One round of the attack: 2 connections x 100 Check streams, each sending the first half of a 4 MiB
// message and never ending. Resolves with how the streams ended (see outcomes) and the server's peak RSS.
async function halfBodies(
  server: ChildServer,
  waitMs: number,
): Promise<{ outcomes: Record<string, number>; peak: number }> {
  const head = envelope(0, Buffer.alloc(0), 4 * mib);
  const half = Buffer.alloc(2 * mib, 0x61);
  const sessions = await Promise.all([attackerSession(server.port), attackerSession(server.port)]);
  let peak = server.rss();
  const sampler = setInterval(() => {
    peak = Math.max(peak, server.rss());
  }, 50);
  try {
    const answers = sessions.flatMap((session) =>
      Array.from({ length: 100 }, () =>
        h2exchange(session, grpcHeaders(), { body: [head, half], end: false, timeoutMs: waitMs }),
      ),
    );
    await sleep(1000);
    if ((await grpcCheck(server.port)) !== 1) throw new Error("a Check during the attack failed");
    const results = await Promise.all(answers);
    return {
      outcomes: outcomes(results),
      peak,
    };
  } finally {
    clearInterval(sampler);
    for (const session of sessions) session.destroy();
  }
}

t.test(
  "memory: 2 connections x 100 Check streams carrying half of a 4 MiB message are freed",
  { timeout: 120_000 },
  async (t) => {
    const server = await startChildServer(t, {
      http2: { requestBodyTimeoutMs: 2000 },
      // The byte budgets would end these streams first (they have their own test): the timeout alone here.
      connections: { maxConnectionBufferedBytes: 0, maxProcessBufferedBytes: 0 },
    });
    await assertBoundedAttack(
      t,
      server,
      `grpc-status ${Code.DeadlineExceeded}`,
      200 * 2 * mib,
      () => halfBodies(server, 20_000),
      () => grpcCheck(server.port),
    );
  },
);
