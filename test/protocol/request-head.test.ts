import t from "tap";
import { parseContentType } from "../../src/protocol/content-type.ts";
import {
  acceptEncodingHeaderName,
  checkBinaryHeaders,
  checkProtocolVersion,
  encodingHeaderName,
  headerValue,
  readRequestHead,
  requestCompression,
  requestTimeoutMs,
} from "../../src/protocol/request-head.ts";
import { Code } from "../../src/wire/code.ts";
import { gzip, identity } from "../../src/wire/compression.ts";

const grpc = parseContentType("application/grpc")!;
const web = parseContentType("application/grpc-web")!;
const unary = parseContentType("application/json")!;
const stream = parseContentType("application/connect+proto")!;

t.test("encoding header names per protocol", async (t) => {
  t.equal(encodingHeaderName(grpc), "grpc-encoding");
  t.equal(encodingHeaderName(web), "grpc-encoding");
  t.equal(encodingHeaderName(unary), "content-encoding");
  t.equal(encodingHeaderName(stream), "connect-content-encoding");
  t.equal(acceptEncodingHeaderName(grpc), "grpc-accept-encoding");
  t.equal(acceptEncodingHeaderName(unary), "accept-encoding");
  t.equal(acceptEncodingHeaderName(stream), "connect-accept-encoding");
});

t.test("request compression", async (t) => {
  t.equal(requestCompression(grpc, {}).name, "identity");
  t.equal(requestCompression(grpc, { "grpc-encoding": "identity" }).name, "identity");
  t.equal(requestCompression(grpc, { "grpc-encoding": "gzip" }).name, "gzip");
  t.equal(requestCompression(unary, { "content-encoding": "gzip" }).name, "gzip");
  t.equal(
    requestCompression(unary, { "grpc-encoding": "gzip" }).name,
    "identity",
    "the other protocol's header is ignored",
  );
  t.equal(requestCompression(stream, { "connect-content-encoding": ["gzip", "br"] }).name, "gzip");
  t.throws(() => requestCompression(grpc, { "grpc-encoding": "br" }), { code: Code.Unimplemented });
});

t.test("timeouts: grpc-timeout for gRPC, the three triple headers in order", async (t) => {
  t.equal(requestTimeoutMs(grpc, {}), undefined);
  t.equal(requestTimeoutMs(grpc, { "grpc-timeout": "2S" }), 2000);
  t.equal(requestTimeoutMs(web, { "grpc-timeout": "5m" }), 5);
  t.throws(() => requestTimeoutMs(grpc, { "grpc-timeout": "10" }), { code: Code.Internal });
  t.equal(requestTimeoutMs(grpc, { "triple-timeout-ms": "5" }), undefined, "gRPC ignores triple headers");
  t.equal(requestTimeoutMs(unary, {}), undefined);
  t.equal(requestTimeoutMs(unary, { "triple-timeout-ms": "7" }), 7);
  t.equal(requestTimeoutMs(unary, { "tri-service-timeout": "8" }), 8);
  t.equal(requestTimeoutMs(stream, { "connect-timeout-ms": "9" }), 9);
  t.equal(requestTimeoutMs(unary, { "triple-timeout-ms": "1", "connect-timeout-ms": "9" }), 1);
  t.throws(() => requestTimeoutMs(unary, { "tri-service-timeout": "12345678901" }), {
    code: Code.InvalidArgument,
  });
  t.throws(() => requestTimeoutMs(unary, { "connect-timeout-ms": "-1" }), { code: Code.InvalidArgument });
});

t.test("protocol versions: optional, wrong values refused", async (t) => {
  checkProtocolVersion(unary, {});
  checkProtocolVersion(unary, {
    "triple-protocol-version": "0.1.0",
    "tri-protocol-version": "1.0.0",
    "connect-protocol-version": "1",
  });
  checkProtocolVersion(grpc, { "connect-protocol-version": "2" });
  t.throws(() => checkProtocolVersion(unary, { "triple-protocol-version": "9.9.9" }), {
    code: Code.InvalidArgument,
    rawMessage: 'triple-protocol-version must be "0.1.0": got "9.9.9"',
  });
  t.throws(() => checkProtocolVersion(stream, { "tri-protocol-version": "2" }), {
    code: Code.InvalidArgument,
  });
  t.throws(() => checkProtocolVersion(unary, { "connect-protocol-version": "2" }), {
    code: Code.InvalidArgument,
  });
  t.equal(headerValue({ a: ["x", "y"] }, "a"), "x");
  t.equal(headerValue({}, "a"), undefined);
});

t.test("readRequestHead: one shared result for a plain head, checks in order", async (t) => {
  const plain = readRequestHead(grpc, { "content-type": "application/grpc", te: "trailers" });
  t.equal(plain.compression, identity);
  t.equal(plain.timeoutMs, undefined);
  t.equal(readRequestHead(grpc, {}), plain, "no allocation for the usual head");
  const full = readRequestHead(grpc, { "grpc-encoding": "gzip", "grpc-timeout": "2S" });
  t.equal(full.compression, gzip);
  t.equal(full.timeoutMs, 2000);
  t.equal(readRequestHead(unary, { "connect-timeout-ms": "15" }).timeoutMs, 15);
  // A bad version header is reported before a bad encoding, a bad encoding before a bad `-bin` value.
  t.throws(() => readRequestHead(unary, { "connect-protocol-version": "2", "content-encoding": "br" }), {
    code: Code.InvalidArgument,
  });
  t.throws(() => readRequestHead(grpc, { "grpc-encoding": "br", "x-bin": "!!" }), {
    code: Code.Unimplemented,
  });
  t.throws(() => readRequestHead(grpc, { "x-bin": "!!" }), { code: Code.Internal });
});

t.test("checkBinaryHeaders: every -bin value, repeated or comma-joined, must be base64", async (t) => {
  t.doesNotThrow(() => checkBinaryHeaders({ "a-bin": "AAEC", b: "!!", bin: "!!", "x-bi": "!!" }));
  t.doesNotThrow(() => checkBinaryHeaders({ "a-bin": ["AAEC", "AQ==, Ag"], "c-bin": undefined }));
  t.throws(() => checkBinaryHeaders({ "a-bin": ["AAEC", "not base64!"] }), { code: Code.Internal });
  t.throws(() => checkBinaryHeaders({ "a-bin": "AAEC, ***" }), { code: Code.Internal });
});

t.test("readRequestHead: a zero timeout is a deadline already passed (DEADLINE_EXCEEDED)", async (t) => {
  // dubbo-go and connect-go answer DEADLINE_EXCEEDED without running the handler; a zero-delay timer
  // would race the body and usually serve the call.
  for (const [type, headers] of [
    [grpc, { "grpc-timeout": "0n" }],
    [grpc, { "grpc-timeout": "0H" }],
    [web, { "grpc-timeout": "00000000m" }],
    [unary, { "triple-timeout-ms": "0" }],
    [unary, { "tri-service-timeout": "0" }],
    [unary, { "connect-timeout-ms": "0000000000" }],
    [stream, { "connect-timeout-ms": "0" }],
    [unary, { "triple-timeout-ms": "0", "connect-timeout-ms": "5" }],
  ] as const) {
    t.throws(() => readRequestHead(type, headers), { code: Code.DeadlineExceeded }, JSON.stringify(headers));
  }
  t.equal(
    readRequestHead(grpc, { "grpc-timeout": "1n" }).timeoutMs,
    1,
    "a positive timeout never rounds to 0",
  );
  t.equal(readRequestHead(unary, { "triple-timeout-ms": "1", "connect-timeout-ms": "0" }).timeoutMs, 1);
  t.equal(readRequestHead(grpc, { "connect-timeout-ms": "0" }).timeoutMs, undefined, "not gRPC's header");
  t.throws(
    () => readRequestHead(unary, { "connect-protocol-version": "2", "triple-timeout-ms": "0" }),
    {
      code: Code.InvalidArgument,
    },
    "a bad version header is reported first",
  );
});
