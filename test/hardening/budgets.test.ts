// Hardening II item 12: byte budgets. Every byte held on behalf of a peer — request bytes buffered until
// a message is complete, response bytes queued behind a slow reader — counts against its connection's
// budget and the port's total. Before, 2 connections x 100 streams each sending half of a 4 MiB message
// took a server from 73 to 480 MiB of RSS; past a budget the server now ends the call holding most
// (RESOURCE_EXHAUSTED, or a reset for a queued response) and refuses the connection's new streams
// (RST_STREAM REFUSED_STREAM), and never grows. The RSS figures come from budgets-rss.test.ts.
import http2 from "node:http2";
import net from "node:net";
import t, { type Test } from "tap";
import { loadProtoFiles } from "../../src/codec/proto-files.ts";
import { defineService } from "../../src/server/define-service.ts";
import { connectionDefaults } from "../../src/server/options.ts";
import { Code } from "../../src/wire/code.ts";
import { ConfigError } from "../../src/wire/config-error.ts";
import { RpcError } from "../../src/wire/rpc-error.ts";
import { connect, grpcHeaders, type H2Response, h2exchange } from "../fixtures/h2-request.ts";
import { startServer } from "../fixtures/start-server.ts";
import { checkPath, checkRequest, envelope, grpcCheck, h1Check, sleep, waitFor } from "./fixtures/attack.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const { NGHTTP2_REFUSED_STREAM, NGHTTP2_CANCEL } = http2.constants;

/** An envelope head announcing `length` bytes, and `sent` bytes of it: a message that never completes. */
function partialMessage(sent: number, length = 4 * MiB - 1): Buffer[] {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(length, 1);
  return [head, Buffer.alloc(sent, 0x61)];
}

/** A gRPC Check stream sending `sent` bytes of a 4 MiB message, never ending it; resolves when it closes. */
function partialCheck(session: http2.ClientHttp2Session, sent: number): Promise<H2Response> {
  return h2exchange(session, grpcHeaders(checkPath), {
    body: partialMessage(sent),
    end: false,
    timeoutMs: 60_000,
  });
}

const greetRoot = loadProtoFiles("greet.proto");

/** Writes `chunks` on a raw TCP connection; `answer`: everything the server sent, once it ended its side. */
function partialH1(t: Test, port: number, chunks: Buffer[]): { socket: net.Socket; answer: Promise<string> } {
  const socket = net.connect(port, "127.0.0.1");
  t.teardown(() => socket.destroy());
  const parts: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => parts.push(chunk));
  socket.on("error", () => {});
  for (const chunk of chunks) socket.write(chunk);
  const answer = new Promise<string>((resolve) => {
    const done = () => resolve(Buffer.concat(parts).toString("latin1"));
    socket.on("end", done);
    socket.on("close", done);
  });
  return { socket, answer };
}

t.test("defaults: 16 MiB per connection, 256 MiB per port; both documented and configurable", async (t) => {
  t.equal(connectionDefaults.maxConnectionBufferedBytes, 16 * MiB);
  t.equal(connectionDefaults.maxProcessBufferedBytes, 256 * MiB);
  for (const bad of [-1, 1.5, Number.NaN]) {
    const server = (await import("../../src/host/triple-server.ts")).createTripleServer({
      connections: { maxConnectionBufferedBytes: bad },
    });
    await t.rejects(server.listen(0), ConfigError, `maxConnectionBufferedBytes ${bad}`);
    await server.close({ graceMs: 0 });
  }
});

t.test(
  "past the connection budget: the stream holding most gets RESOURCE_EXHAUSTED, new streams are refused",
  async (t) => {
    const { server, port } = await startServer(t, {
      connections: { maxConnectionBufferedBytes: 1 * MiB, maxProcessBufferedBytes: 0 },
    });
    const session = await connect(port);
    t.teardown(() => session.destroy());
    let peak = 0;
    const sampler = setInterval(() => {
      peak = Math.max(peak, server.bufferedBytes);
    }, 1);
    t.teardown(() => clearInterval(sampler));
    // 6 x 200 KiB = 1.2 MiB on one connection, each stream well within the 4 MiB message limit.
    const calls = Array.from({ length: 6 }, () => partialCheck(session, 200 * KiB));
    const first = await Promise.race(calls);
    t.equal(first.grpcStatus, Code.ResourceExhausted, "the worst offender: RESOURCE_EXHAUSTED");
    t.match(first.grpcMessage, /connection holds more than its budget of 1048576 buffered bytes/);
    t.ok(await waitFor(() => server.bufferedBytes > 700 * KiB), "the other streams are still held");
    t.ok(server.bufferedBytes <= 1 * MiB, `held ${server.bufferedBytes} <= 1 MiB`);

    const refused = await h2exchange(session, grpcHeaders(checkPath), {
      body: [envelope(0, checkRequest(""))],
    });
    t.equal(refused.rstCode, NGHTTP2_REFUSED_STREAM, "a new stream on that connection: REFUSED_STREAM");
    t.equal(refused.status, 0, "refused before any answer");
    t.equal(await grpcCheck(port), 1, "a Check on another connection is answered");

    clearInterval(sampler);
    // One chunk (a DATA frame, 16 KiB) past the budget at most, and only until the offender is ended.
    t.ok(peak <= 1 * MiB + 16 * KiB + 5, `peak ${peak} within the budget plus one chunk`);
    session.destroy();
    t.ok(await waitFor(() => server.bufferedBytes === 0), "everything released when the connection closes");
    const results = await Promise.all(calls);
    t.ok(
      results.every((r) => r.grpcStatus === undefined || r.grpcStatus === Code.ResourceExhausted),
      "no other answer than RESOURCE_EXHAUSTED",
    );
  },
);

t.test("past the port's total: the connection holding most is the one cut back", async (t) => {
  const { server, port } = await startServer(t, {
    connections: { maxConnectionBufferedBytes: 4 * MiB, maxProcessBufferedBytes: 1 * MiB },
  });
  const [big, small, other] = await Promise.all([connect(port), connect(port), connect(port)]);
  t.teardown(() => {
    for (const s of [big, small, other]) s.destroy();
  });
  const bigCalls = Array.from({ length: 3 }, () => partialCheck(big, 200 * KiB));
  t.ok(await waitFor(() => server.bufferedBytes >= 600 * KiB), "the big connection holds 600 KiB");
  const smallCall = partialCheck(small, 200 * KiB);
  t.ok(await waitFor(() => server.bufferedBytes >= 800 * KiB), "the small one 200 KiB");
  const otherCalls = Array.from({ length: 2 }, () => partialCheck(other, 200 * KiB));
  const first = await Promise.race([...bigCalls, smallCall, ...otherCalls]);
  t.equal(first.grpcStatus, Code.ResourceExhausted);
  t.match(first.grpcMessage, /server holds more than its budget of 1048576 buffered bytes/);
  const ended = await Promise.race([
    Promise.race(bigCalls).then(() => "big"),
    smallCall.then(() => "small"),
    Promise.race(otherCalls).then(() => "other"),
  ]);
  t.equal(ended, "big", "a stream of the connection holding most was ended");
  const refused = await h2exchange(big, grpcHeaders(checkPath), { body: [envelope(0, checkRequest(""))] });
  t.equal(refused.rstCode, NGHTTP2_REFUSED_STREAM, "that connection refuses new streams");
  const check = await h2exchange(small, grpcHeaders(checkPath), { body: [envelope(0, checkRequest(""))] });
  t.equal(check.grpcStatus, 0, "another connection still takes new streams");
  t.ok(server.bufferedBytes <= 1 * MiB, `held ${server.bufferedBytes} <= 1 MiB`);
});

t.test(
  "HTTP/1.1: a body past the total is answered resource_exhausted and its connection closed",
  async (t) => {
    const { server, port } = await startServer(t, { connections: { maxProcessBufferedBytes: 256 * KiB } });
    // Two requests announcing 1 MiB of JSON, each sending 150 KiB of it: together past the 256 KiB total.
    const head = Buffer.from(
      `POST ${checkPath} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${MiB}\r\n\r\n`,
    );
    const body = Buffer.from(`{"service":"${"a".repeat(150 * KiB)}`);
    const first = partialH1(t, port, [head, body]);
    t.ok(await waitFor(() => server.bufferedBytes >= 150 * KiB), "the first body is held");
    const second = partialH1(t, port, [head, body]);
    // An answer resolves once the server has ended its side: the connection is closed.
    const answer = await Promise.race([first.answer, second.answer]);
    t.match(answer, /^HTTP\/1\.1 429 /, "429, triple's status for resource_exhausted");
    t.match(answer, /"code":"resource_exhausted"/);
    t.match(answer, /server holds more than its budget of 262144 buffered bytes/);
    t.ok(server.bufferedBytes <= 256 * KiB, `held ${server.bufferedBytes}`);
    t.equal(await h1Check(port), 200, "an HTTP/1.1 Check on another connection is answered");
    first.socket.destroy();
    second.socket.destroy();
    t.ok(await waitFor(() => server.bufferedBytes === 0), "released when the connections close");
  },
);

t.test("every way a call ends releases what it held", async (t) => {
  const { server, port } = await startServer(t, { connections: { maxConnectionBufferedBytes: 64 * MiB } });
  const session = await connect(port);
  t.teardown(() => session.destroy());
  const settled = () => waitFor(() => server.bufferedBytes === 0);

  // A complete multi-chunk message: released once decoded (here NOT_FOUND for a long unknown name).
  const long = await h2exchange(session, grpcHeaders(checkPath), {
    body: [envelope(0, checkRequest("x".repeat(300 * KiB)))],
  });
  t.equal(long.grpcStatus, Code.NotFound);
  t.ok(await settled(), "a message read to its end");

  // Client reset mid-message.
  const stream = session.request(grpcHeaders(checkPath), { endStream: false });
  stream.on("error", () => {});
  for (const chunk of partialMessage(300 * KiB)) stream.write(chunk);
  t.ok(await waitFor(() => server.bufferedBytes >= 300 * KiB), "held while the message is incomplete");
  stream.close(NGHTTP2_CANCEL);
  t.ok(await settled(), "a stream reset by the client");

  // Deadline passing mid-message.
  const late = await h2exchange(session, grpcHeaders(checkPath, { "grpc-timeout": "200m" }), {
    body: partialMessage(300 * KiB),
    end: false,
    timeoutMs: 10_000,
  });
  t.equal(late.grpcStatus, Code.DeadlineExceeded);
  t.ok(await settled(), "a deadline");

  // Past the message limit while buffering (the announced length is within it, the bytes are not).
  const over = await h2exchange(session, grpcHeaders(checkPath), {
    body: [...partialMessage(200 * KiB, 100 * KiB)],
    end: false,
    timeoutMs: 10_000,
  });
  t.ok(over.grpcStatus !== 0, `more bytes than announced: ${over.grpcStatus}`);
  t.ok(await settled(), "a malformed message");

  // The connection closing mid-message.
  const other = await connect(port);
  void partialCheck(other, 300 * KiB);
  t.ok(await waitFor(() => server.bufferedBytes >= 300 * KiB));
  other.destroy();
  t.ok(await settled(), "a connection closed");
  t.equal(await grpcCheck(port), 1);
});

t.test("response bytes queued behind a reader that does not read count too", async (t) => {
  const big = "g".repeat(256 * KiB);
  const { server, port } = await startServer(t, {
    connections: { maxConnectionBufferedBytes: 1 * MiB, maxProcessBufferedBytes: 0 },
  });
  server.addService(
    "greet.GreetService",
    defineService(greetRoot, "greet.GreetService", { Greet: () => ({ greeting: big }) }),
  );
  // A window of 0: the server may send headers but no DATA, so every answer stays queued.
  const session = await connect(port, { settings: { initialWindowSize: 0 } });
  t.teardown(() => session.destroy());
  const greetHeaders = grpcHeaders("/greet.GreetService/Greet");
  const calls: Promise<H2Response>[] = [];
  for (let i = 0; i < 3; i++) {
    calls.push(
      h2exchange(session, greetHeaders, { body: [envelope(0, Buffer.alloc(0))], timeoutMs: 60_000 }),
    );
  }
  t.ok(await waitFor(() => server.bufferedBytes >= 3 * 256 * KiB), "three queued answers are held");
  calls.push(h2exchange(session, greetHeaders, { body: [envelope(0, Buffer.alloc(0))], timeoutMs: 60_000 }));
  const first = await Promise.race(calls);
  t.equal(first.rstCode, NGHTTP2_CANCEL, "the stream holding most is reset");
  t.ok(server.bufferedBytes <= 1 * MiB, `held ${server.bufferedBytes} <= 1 MiB`);
  const refused = await h2exchange(session, grpcHeaders(checkPath), {
    body: [envelope(0, checkRequest(""))],
  });
  t.equal(refused.rstCode, NGHTTP2_REFUSED_STREAM, "and the connection refuses new streams");
  t.equal(await grpcCheck(port), 1, "a Check on another connection is answered");
  session.destroy();
  t.ok(await waitFor(() => server.bufferedBytes === 0), "released when the connection closes");
});

t.test("a server stream whose handler ignores backpressure is reset past the budget", async (t) => {
  const { server, port } = await startServer(t, {
    connections: { maxConnectionBufferedBytes: 1 * MiB, maxProcessBufferedBytes: 0 },
  });
  const greet = defineService(greetRoot, "greet.GreetService", { Greet: () => ({ greeting: "" }) });
  const chunk = { greeting: "s".repeat(64 * KiB) };
  let rejected: unknown;
  server.addService("greet.Flood", {
    Flood: {
      kind: "server_streaming",
      input: greet["Greet"]!.input,
      output: greet["Greet"]!.output,
      handler: (_request, call) => {
        // Never awaits send(): a handler that did would simply wait for the reader.
        for (let i = 0; i < 40; i++) {
          call.send(chunk).catch((error: unknown) => {
            rejected ??= error;
          });
        }
        return new Promise(() => {});
      },
    },
  });
  const session = await connect(port, { settings: { initialWindowSize: 0 } });
  t.teardown(() => session.destroy());
  const flood = await h2exchange(session, grpcHeaders("/greet.Flood/Flood"), {
    body: [envelope(0, Buffer.alloc(0))],
    timeoutMs: 30_000,
  });
  t.equal(flood.rstCode, NGHTTP2_CANCEL, "reset once its queue passes the connection budget");
  t.ok(rejected instanceof RpcError, "its handler's send() rejects");
  t.ok(await waitFor(() => server.bufferedBytes === 0), "nothing is held afterwards");
  t.equal(await grpcCheck(port), 1, "a Check on another connection is answered");
});

t.test("budgets off: nothing is counted, and nothing is refused", async (t) => {
  const { server, port } = await startServer(t, {
    connections: { maxConnectionBufferedBytes: 0, maxProcessBufferedBytes: 0 },
  });
  const session = await connect(port);
  t.teardown(() => session.destroy());
  const calls = Array.from({ length: 4 }, () => partialCheck(session, 300 * KiB));
  await sleep(200);
  const answer = await h2exchange(session, grpcHeaders(checkPath), { body: [envelope(0, checkRequest(""))] });
  t.equal(answer.grpcStatus, 0, "the connection takes new streams");
  t.equal(server.bufferedBytes, 0, "no budget, no count");
  session.destroy();
  await Promise.all(calls);
});
