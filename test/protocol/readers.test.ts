// Each wire element's reader against its writer (round trips) and against the peer dialects the
// client meets: the reader half of every protocol module.
import t from "tap";
import { parseContentType, requestContentType } from "../../src/protocol/content-type.ts";
import { decodeEndStreamJson, encodeEndStreamJson } from "../../src/protocol/end-stream.ts";
import { decodeErrorJson, encodeErrorJson, errorFromJson } from "../../src/protocol/error-json.ts";
import { grpcWriter } from "../../src/protocol/grpc.ts";
import { grpcErrorTrailers, grpcTrailers, parseGrpcStatus } from "../../src/protocol/grpc-status.ts";
import { decodeTrailerLines, encodeTrailerLines } from "../../src/protocol/grpc-web.ts";
import { safeMetadata } from "../../src/protocol/headers.ts";
import { readRequestHead, requestHeaders } from "../../src/protocol/request-head.ts";
import type { OutgoingHeaders } from "../../src/protocol/response-sink.ts";
import { splitUnaryTrailers, tripleUnaryWriter } from "../../src/protocol/triple-unary.ts";
import { Code } from "../../src/wire/code.ts";
import { envelopeFlagNames } from "../../src/wire/envelope.ts";
import { type Metadata, RpcError } from "../../src/wire/rpc-error.ts";
import { FakeSink } from "./fixtures/fake-sink.ts";

const md = (entries: Record<string, string[]>): Metadata => new Map(Object.entries(entries));
const none: Metadata = new Map();

t.test("gRPC status: the trailers the writer sends read back as the same error", async (t) => {
  const error = new RpcError(Code.NotFound, "no such service: café 100%", {
    details: new Uint8Array([1, 2, 3]),
    metadata: md({ "x-error": ["e"] }),
  });
  const read = parseGrpcStatus(grpcErrorTrailers(error, md({ "x-trailer": ["t1", "t2"] })));
  t.ok(read instanceof RpcError);
  const back = read as RpcError;
  t.equal(back.code, Code.NotFound);
  t.equal(back.rawMessage, "no such service: café 100%");
  t.same([...(back.details ?? [])], [1, 2, 3]);
  t.same(back.metadata.get("x-error"), ["e"]);
  t.same(back.metadata.get("x-trailer"), ["t1", "t2"]);
  t.equal(back.metadata.has("grpc-status"), false, "the status headers are not metadata");

  t.equal(parseGrpcStatus(grpcTrailers(undefined)), undefined, "OK");
  t.equal(parseGrpcStatus(grpcTrailers(md({ "x-t": ["v"] }))), undefined, "OK with trailers");
  t.equal(parseGrpcStatus({}), "missing");
  t.equal(parseGrpcStatus({ "content-type": "application/grpc" }), "missing");
  const unimplemented = parseGrpcStatus(grpcErrorTrailers(new RpcError(Code.Unimplemented, ""), undefined));
  t.match(unimplemented, { code: Code.Unimplemented, rawMessage: "" });
});

t.test("gRPC status: what peers send", async (t) => {
  t.equal(parseGrpcStatus({ "grpc-status": ["0", "2"] }), undefined, "the first of repeated values");
  t.equal(parseGrpcStatus({ "grpc-status": " 0 " }), undefined, "surrounding blanks");
  t.match(parseGrpcStatus({ "grpc-status": "14", "grpc-message": "down%20for%20now" }), {
    code: Code.Unavailable,
    rawMessage: "down for now",
  });
  t.match(parseGrpcStatus({ "grpc-status": "99", "grpc-message": "odd" }), {
    code: Code.Unknown,
    rawMessage: 'invalid grpc-status "99": odd',
  });
  t.match(parseGrpcStatus({ "grpc-status": "abc" }), {
    code: Code.Unknown,
    rawMessage: 'invalid grpc-status "abc": ',
  });
  const badDetails = parseGrpcStatus({ "grpc-status": "5", "grpc-status-details-bin": "!!!" }) as RpcError;
  t.equal(badDetails.code, Code.NotFound);
  t.equal(badDetails.details, undefined, "unreadable details are dropped, the status kept");
  const badBin = parseGrpcStatus({ "grpc-status": "5", "x-bin": "!!!", "x-plain": "p" }) as RpcError;
  t.equal(badBin.code, Code.NotFound);
  t.equal(badBin.metadata.size, 0, "malformed -bin metadata is dropped, the status kept");
});

t.test("gRPC: a Trailers-Only head reads back as its error", async (t) => {
  const sink = new FakeSink();
  grpcWriter.writeError(
    sink,
    parseContentType("application/grpc")!,
    new RpcError(Code.Aborted, "x"),
    undefined,
    undefined,
  );
  const [, , head] = sink.events[0] as [string, number, OutgoingHeaders];
  t.match(parseGrpcStatus(head), { code: Code.Aborted, rawMessage: "x" });
});

t.test("gRPC-Web trailer lines: encode, then decode", async (t) => {
  const trailers = grpcErrorTrailers(new RpcError(Code.Internal, "bad: thing"), md({ "x-t": ["1", "2"] }));
  const decoded = decodeTrailerLines(encodeTrailerLines(trailers));
  t.same(decoded, { "grpc-status": "13", "grpc-message": "bad: thing", "x-t": ["1", "2"] });
  t.match(parseGrpcStatus(decoded), { code: Code.Internal, rawMessage: "bad: thing" });
  t.same(decodeTrailerLines(encodeTrailerLines(grpcTrailers(undefined))), { "grpc-status": "0" });
  t.same(
    decodeTrailerLines(Buffer.from("Grpc-Status: 0\nno colon\r\n: empty name\r\nx-a:  spaced  \r\n\r\n")),
    { "grpc-status": "0", "x-a": "spaced" },
    "bare LF, mixed case, lines without a name",
  );
  t.same(decodeTrailerLines(Buffer.alloc(0)), {});
  t.same(decodeTrailerLines(Buffer.from("a: 1\r\na: 2\r\na: 3\r\n")), { a: ["1", "2", "3"] });
});

t.test("JSON error: encode, then decode", async (t) => {
  const error = new RpcError(Code.PermissionDenied, "no");
  t.match(decodeErrorJson(encodeErrorJson(error), Code.Unknown, none), {
    code: Code.PermissionDenied,
    rawMessage: "no",
  });
  const metadata = md({ "x-m": ["v"] });
  const empty = decodeErrorJson(encodeErrorJson(new RpcError(Code.Canceled, "")), Code.Unknown, metadata);
  t.match(empty, { code: Code.Canceled, rawMessage: "" });
  t.equal(empty?.metadata, metadata);
});

t.test("JSON error: each dialect", async (t) => {
  const read = (value: unknown, fallback: Code = Code.Unavailable) => errorFromJson(value, fallback, none);
  t.match(
    read({ code: "not_found", message: "m" }),
    { code: Code.NotFound, rawMessage: "m" },
    "connect, dubbo-go",
  );
  t.match(read({ status: 5, message: "m" }), { code: Code.NotFound }, "dubbo-js");
  t.match(read({ code: 7 }), { code: Code.PermissionDenied }, "a numeric code");
  t.match(read({ code: "not_found", status: 3 }), { code: Code.NotFound }, "the string code wins");
  t.match(
    read({ code: "no_such_code", status: 3 }),
    { code: Code.InvalidArgument },
    "an unknown name: status",
  );
  t.match(read({ code: "no_such_code", message: "m" }), { code: Code.Unavailable }, "else the fallback");
  t.match(read({ code: "ok", message: "m" }), { code: Code.Unavailable }, "OK is no error code");
  t.equal(read({ code: "ok" }), undefined);
  t.equal(read({}), undefined);
  t.equal(read({ message: 3 }), undefined);
  t.equal(read(null), undefined);
  t.equal(read([1]), undefined);
  t.equal(read("x"), undefined);
  t.equal(decodeErrorJson(Buffer.from("<html>"), Code.Unknown, none), undefined, "not JSON");
  t.match(decodeErrorJson(new Uint8Array(Buffer.from('{"status":14}')), Code.Unknown, none), {
    code: Code.Unavailable,
  });
});

t.test("end-stream JSON: encode, then decode", async (t) => {
  const ok = decodeEndStreamJson(encodeEndStreamJson(undefined, undefined));
  t.equal(ok.error, undefined);
  t.equal(ok.metadata.size, 0);
  t.same(ok.json, {});
  const withTrailers = decodeEndStreamJson(encodeEndStreamJson(undefined, md({ "x-t": ["a", "b"] })));
  t.equal(withTrailers.error, undefined);
  t.same(withTrailers.metadata.get("x-t"), ["a", "b"]);
  const failed = decodeEndStreamJson(
    encodeEndStreamJson(new RpcError(Code.ResourceExhausted, "full"), md({ "x-t": ["a"] })),
  );
  t.match(failed.error, { code: Code.ResourceExhausted, rawMessage: "full" });
  t.same(failed.error?.metadata.get("x-t"), ["a"]);
  t.same(failed.json, {
    error: { code: "resource_exhausted", status: 8, message: "full" },
    metadata: { "x-t": ["a"] },
  });
});

t.test("end-stream JSON: what peers send", async (t) => {
  const read = (text: string) => decodeEndStreamJson(Buffer.from(text));
  t.match(read('{"error":{"status":5}}').error, { code: Code.NotFound }, "dubbo-js's numeric status");
  t.match(read('{"error":{}}').error, { code: Code.Unknown, rawMessage: "" }, "an error without a code");
  t.match(read('{"error":{"message":"m"}}').error, { code: Code.Unknown, rawMessage: "m" });
  t.equal(read('{"error":null}').error, undefined);
  const metadata = read('{"metadata":{"X-Up":["1",2],"skip":"not a list"}}').metadata;
  t.same([...metadata], [["x-up", ["1", "2"]]], "keys lower-cased, values as text, non-lists skipped");
  t.equal(read('{"metadata":null}').metadata.size, 0);
  t.throws(() => read("not json"), {
    code: Code.Internal,
    rawMessage: "invalid end-stream message: not JSON",
  });
  t.throws(() => read("[]"), {
    code: Code.Internal,
    rawMessage: "invalid end-stream message: not an object",
  });
  t.throws(() => read("null"), { code: Code.Internal });
});

t.test("triple unary: Trailer- headers split back into header and trailer metadata", async (t) => {
  const type = parseContentType("application/proto")!;
  const sink = new FakeSink();
  tripleUnaryWriter.writeUnary(
    sink,
    type,
    new Uint8Array([8, 1]),
    md({ "x-h": ["h"] }),
    md({ "x-t": ["t1", "t2"] }),
  );
  const [, , head] = sink.events[0] as [string, number, OutgoingHeaders];
  const [header, trailer] = splitUnaryTrailers(head);
  t.same([...header], [["x-h", ["h"]]]);
  t.same([...trailer], [["x-t", ["t1", "t2"]]]);

  const failed = new FakeSink();
  tripleUnaryWriter.writeError(
    failed,
    type,
    new RpcError(Code.NotFound, "gone"),
    undefined,
    md({ "x-t": ["e"] }),
  );
  const [, status, errorHead, body] = failed.events[0] as [string, number, OutgoingHeaders, string];
  t.equal(status, 404);
  const [, errorTrailer] = splitUnaryTrailers(errorHead);
  t.same(errorTrailer.get("x-t"), ["e"]);
  t.match(decodeErrorJson(Buffer.from(body, "hex"), Code.Unknown, errorTrailer), {
    code: Code.NotFound,
    rawMessage: "gone",
  });
  t.same(
    splitUnaryTrailers({ "trailer-x-bin": "!!!", "x-a": "1" })[1].size,
    0,
    "a bad -bin trailer is dropped",
  );
});

t.test("request heads: what the client sends, the server reads", async (t) => {
  const grpc = requestContentType("grpc", "proto", true);
  t.equal(grpc, parseContentType("application/grpc+proto"));
  t.equal(requestContentType("grpc", "json", true), parseContentType("application/grpc+json"));
  t.equal(requestContentType("triple", "json", true), parseContentType("application/connect+json"));
  t.equal(requestContentType("triple", "proto", true), parseContentType("application/connect+proto"));
  t.equal(requestContentType("triple", "json", false), parseContentType("application/json"));
  t.equal(requestContentType("triple", "proto", false), parseContentType("application/proto"));

  const grpcHead = requestHeaders(
    grpc,
    "probe/1",
    1500,
    md({ "x-a": ["1"] }),
    md({ "x-a": ["2"], "x-b": ["3"] }),
  );
  t.same(grpcHead, {
    "content-type": "application/grpc+proto",
    te: "trailers",
    "user-agent": "probe/1",
    "grpc-accept-encoding": "identity,gzip",
    "grpc-timeout": "1500m",
    "x-a": ["1", "2"],
    "x-b": "3",
  });
  t.equal(readRequestHead(grpc, grpcHead).timeoutMs, 1500);
  t.notOk("grpc-timeout" in requestHeaders(grpc, "u", undefined, none, none));

  const unary = requestContentType("triple", "json", false);
  const unaryHead = requestHeaders(unary, "u", 250, none, md({ "x-m": ["v"] }));
  t.same(unaryHead, {
    "content-type": "application/json",
    "connect-protocol-version": "1",
    "user-agent": "u",
    "connect-timeout-ms": "250",
    "triple-timeout-ms": "250",
    "x-m": "v",
  });
  t.equal(readRequestHead(unary, unaryHead).timeoutMs, 250, "the server's checks pass");

  const stream = requestContentType("triple", "proto", true);
  const streamHead = requestHeaders(stream, "u", undefined, none, none);
  t.same(Object.keys(streamHead), [
    "content-type",
    "connect-protocol-version",
    "user-agent",
    "connect-accept-encoding",
  ]);
  t.equal(streamHead["connect-accept-encoding"], "identity,gzip");
  t.equal(readRequestHead(stream, streamHead).timeoutMs, undefined);
  t.throws(() => requestHeaders(stream, "u", undefined, md({ "Bad Key": ["v"] }), none), {
    code: Code.Internal,
  });
});

t.test("safeMetadata and envelope flag names", async (t) => {
  t.same(
    [...safeMetadata({ "x-a": "1", "content-type": "application/grpc", "x-u": undefined })],
    [["x-a", ["1"]]],
  );
  t.equal(safeMetadata({ "x-bin": "!!!" }).size, 0);
  t.same(envelopeFlagNames(0), []);
  t.same(envelopeFlagNames(0x83), ["compressed", "end-stream", "trailers"]);
  t.same(envelopeFlagNames(0x40 | 0x02), ["end-stream"], "unknown bits are not named");
});
