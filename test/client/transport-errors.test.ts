import http2 from "node:http2";
import t from "tap";
import { formatTraceEvent } from "../../src/cli/verbose.ts";
import { createHealthClient } from "../../src/client/health-client.ts";
import { connectFailure, connectFailureKind, transportError } from "../../src/client/transport-errors.ts";
import { Code } from "../../src/wire/code.ts";
import { RpcError } from "../../src/wire/rpc-error.ts";
import { startConnectPeer } from "./fixtures/peers.ts";

const c = http2.constants;

t.test("RST_STREAM codes map to gRPC codes (PROTOCOL-HTTP2.md)", async (t) => {
  t.equal(transportError(undefined, c.NGHTTP2_REFUSED_STREAM).code, Code.Unavailable);
  t.equal(transportError(undefined, c.NGHTTP2_CANCEL).code, Code.Canceled);
  t.equal(transportError(undefined, c.NGHTTP2_ENHANCE_YOUR_CALM).code, Code.ResourceExhausted);
  t.equal(transportError(undefined, c.NGHTTP2_INADEQUATE_SECURITY).code, Code.PermissionDenied);
  t.equal(transportError(undefined, c.NGHTTP2_PROTOCOL_ERROR).code, Code.Internal);
  t.equal(transportError(new Error("gone"), undefined).code, Code.Unavailable);
  t.equal(transportError(undefined, c.NGHTTP2_NO_ERROR).code, Code.Unavailable);
  const own = new RpcError(Code.Aborted, "x");
  t.equal(transportError(own, c.NGHTTP2_CANCEL), own, "an RpcError passes through");
});

t.test("connect failures are tagged", async (t) => {
  const timeout = connectFailure("http://h:1", new DOMException("late", "TimeoutError"));
  t.equal(connectFailureKind(timeout), "timeout");
  t.match(timeout.message, /timed out/);
  const other = connectFailure("http://h:1", "weird");
  t.equal(connectFailureKind(other), "error");
  t.match(other.message, /weird/);
});

t.test("every trace event of a triple call, formatted for --verbose", async (t) => {
  const peer = await startConnectPeer({ http1: true, initial: { a: "SERVING" } });
  t.teardown(() => peer.close());
  const lines: string[] = [];
  const client = createHealthClient(peer.url, {
    protocol: "triple",
    httpVersion: "1.1",
    codec: "json",
    trace: (event) => lines.push(formatTraceEvent(event)),
  });
  t.teardown(() => client.close());
  await client.check("a");
  for await (const _ of client.watch("a")) break;
  const text = lines.join("");
  t.match(text, "> POST http://");
  t.match(text, "HTTP/1.1");
  t.match(text, '> message (unary body): {"service":"a"}');
  t.match(text, '< message (unary body, 20 bytes): {"status":"SERVING"}');
  t.match(text, "> message (flags 0x00)");
  t.equal(
    formatTraceEvent({ type: "response-body", bytes: new Uint8Array(1) }),
    "",
    "raw bytes are not printed",
  );
  t.equal(
    formatTraceEvent({ type: "response-message", flags: 0x03, length: 2, endStream: {} }),
    "< message (flags 0x03 compressed|end-stream, 2 bytes): {}\n",
  );
  t.equal(formatTraceEvent({ type: "trailers", trailers: {} }), "< (no trailers)\n");
  t.equal(
    formatTraceEvent({ type: "trailers", trailers: { a: ["1", "2"], b: undefined } }),
    "< trailer a: 1\n< trailer a: 2\n",
  );
  t.equal(
    formatTraceEvent({ type: "response-message", flags: 0x80, length: 0 }),
    "< message (flags 0x80 trailers, 0 bytes): \n",
  );
});
