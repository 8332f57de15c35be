// Transparent retry over HTTP/2: a call the server never processed (RST_STREAM REFUSED_STREAM, or a stream
// above the last-stream-id of a GOAWAY, whatever its error code) is sent once more; a call the server may
// have processed (its stream at or below the last-stream-id, or response headers received) never is.
import http2 from "node:http2";
import t, { type Test } from "tap";
import { createHealthClient } from "../../src/client/health-client.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { Code } from "../../src/wire/code.ts";
import { RpcError } from "../../src/wire/rpc-error.ts";
import { type RawHandler, startRawH2 } from "./fixtures/raw-server.ts";

const { NGHTTP2_REFUSED_STREAM, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR } = http2.constants;
const check = "/grpc.health.v1.Health/Check";
const serving = Buffer.from([0x08, 0x01]);

function answer(stream: http2.ServerHttp2Stream): void {
  stream.respond({ ":status": 200, "content-type": "application/proto" });
  stream.end(serving);
}

/**
 * A scripted server: the first stream is answered SERVING (a warm-up call, made here, so the session has a
 * stream the server processed), `script` handles the next `n` (default 1), later ones are answered SERVING.
 */
async function scripted(t: Test, script: RawHandler, n = 1) {
  const server = await startRawH2();
  const client = createHealthClient(server.url, { protocol: "triple", timeoutMs: 5000 });
  t.teardown(async () => {
    await client.close();
    await server.close();
  });
  const seen = { streams: 0, sessions: new Set<http2.Http2Session>() };
  let count = 0;
  server.handle(check, (stream, headers, body) => {
    count++;
    seen.streams++;
    seen.sessions.add(stream.session!);
    if (count > 1 && count <= n + 1) script(stream, headers, body);
    else answer(stream);
  });
  t.equal(await client.check(), ServingStatus.Serving, "warm-up call");
  seen.streams = 0;
  seen.sessions.clear();
  return { client, seen };
}

t.test("REFUSED_STREAM: sent once more, and answered", async (t) => {
  const { client, seen } = await scripted(t, (stream) => stream.close(NGHTTP2_REFUSED_STREAM));
  t.equal(await client.check(), ServingStatus.Serving);
  t.equal(seen.streams, 2, "the refused call reached the server twice");
});

for (const [name, code] of [
  ["NO_ERROR", NGHTTP2_NO_ERROR],
  ["INTERNAL_ERROR (node: 'Session closed with error code 2')", NGHTTP2_INTERNAL_ERROR],
] as const) {
  t.test(`GOAWAY(${name}) below the call's stream: retried on a new session`, async (t) => {
    const { client, seen } = await scripted(t, (stream) => {
      // The server takes the stream back: it says it processed the warm-up's stream only.
      stream.session!.goaway(code, stream.id! - 2);
      setTimeout(() => stream.session?.destroy(), 50);
    });
    t.equal(await client.check(), ServingStatus.Serving);
    t.equal(seen.streams, 2);
    t.equal(seen.sessions.size, 2, "the retry went on a new session");
    t.equal(await client.check(), ServingStatus.Serving, "and later calls use it");
  });
}

t.test("GOAWAY(INTERNAL_ERROR) covering the call's stream: not retried", async (t) => {
  const { client, seen } = await scripted(t, (stream) => {
    stream.session!.goaway(NGHTTP2_INTERNAL_ERROR, stream.id!);
    setTimeout(() => stream.session?.destroy(), 50);
  });
  const error = await client.check().catch((e: unknown) => e);
  t.ok(error instanceof RpcError);
  t.match((error as RpcError).message, /Session closed with error code 2/);
  t.equal(seen.streams, 1, "a call the server may have run is not sent again");
  t.equal(await client.check(), ServingStatus.Serving, "the next call opens a new session");
});

t.test("REFUSED_STREAM after response headers: not retried", async (t) => {
  const { client, seen } = await scripted(t, (stream) => {
    stream.respond({ ":status": 200, "content-type": "application/proto" });
    setTimeout(() => stream.close(NGHTTP2_REFUSED_STREAM), 20);
  });
  await client.check().catch(() => {});
  t.equal(seen.streams, 1, "the stream had its response headers: never sent again");
});

t.test("refused twice: one retry only, then UNAVAILABLE", async (t) => {
  const { client, seen } = await scripted(t, (stream) => stream.close(NGHTTP2_REFUSED_STREAM), 2);
  const error = await client.check().catch((e: unknown) => e);
  t.ok(error instanceof RpcError);
  t.equal((error as RpcError).code, Code.Unavailable);
  t.match((error as RpcError).message, /not processed by the server/);
  t.equal(seen.streams, 2, "sent twice, not more");
});

t.test("a call cancelled while refused is not sent again", async (t) => {
  const controller = new AbortController();
  const { client, seen } = await scripted(t, (stream) => {
    controller.abort();
    stream.close(NGHTTP2_REFUSED_STREAM);
  });
  const error = await client.check("", { signal: controller.signal }).catch((e: unknown) => e);
  t.equal((error as RpcError).code, Code.Canceled);
  t.equal(seen.streams, 1);
});
