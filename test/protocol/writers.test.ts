import t from "tap";
import { parseContentType } from "../../src/protocol/content-type.ts";
import { encodeEndStreamJson } from "../../src/protocol/end-stream.ts";
import { encodeErrorJson, errorToJson } from "../../src/protocol/error-json.ts";
import { grpcWriter } from "../../src/protocol/grpc.ts";
import { grpcErrorTrailers, grpcOkTrailers, grpcTrailers } from "../../src/protocol/grpc-status.ts";
import { decodeWebText, encodeTrailerLines, grpcWebWriter } from "../../src/protocol/grpc-web.ts";
import { headerCache, isEmpty, mergeMetadata, withMetadata } from "../../src/protocol/headers.ts";
import { writerFor } from "../../src/protocol/negotiate.ts";
import { tripleStreamWriter } from "../../src/protocol/triple-stream.ts";
import { tripleUnaryWriter } from "../../src/protocol/triple-unary.ts";
import { Code } from "../../src/wire/code.ts";
import { RpcError } from "../../src/wire/rpc-error.ts";
import { FakeSink, hexOf } from "./fixtures/fake-sink.ts";

const ct = (value: string) => parseContentType(value)!;
const message = new Uint8Array([8, 1]);
const md = (entries: Record<string, string[]>) => new Map(Object.entries(entries));

t.test("writerFor picks one writer per protocol", async (t) => {
  t.equal(writerFor(ct("application/grpc+json")), grpcWriter);
  t.equal(writerFor(ct("application/grpc-web-text")), grpcWebWriter);
  t.equal(writerFor(ct("application/json")), tripleUnaryWriter);
  t.equal(writerFor(ct("application/connect+json")), tripleStreamWriter);
  t.equal(grpcWriter.malformedCode, Code.Internal);
  t.equal(grpcWebWriter.malformedCode, Code.Internal);
  t.equal(tripleUnaryWriter.malformedCode, Code.InvalidArgument);
  t.equal(tripleStreamWriter.malformedCode, Code.InvalidArgument);
});

t.test("gRPC: unary, stream, Trailers-Only and late errors", async (t) => {
  const type = ct("application/grpc");
  const sink = new FakeSink();
  grpcWriter.writeUnary(sink, type, message, undefined, undefined);
  t.same(sink.events, [
    ["respond", 200, { "content-type": "application/grpc" }, "00000000020801", { "grpc-status": "0" }],
  ]);

  const withMeta = new FakeSink();
  grpcWriter.writeUnary(withMeta, type, message, md({ "x-h": ["1"] }), md({ "x-t": ["2", "3"] }));
  t.same(withMeta.events[0], [
    "respond",
    200,
    { "content-type": "application/grpc", "x-h": "1" },
    "00000000020801",
    { "grpc-status": "0", "x-t": ["2", "3"] },
  ]);

  const stream = new FakeSink();
  grpcWriter.startStream(stream, type, undefined);
  t.equal(grpcWriter.writeMessage(stream, type, message), true);
  stream.writeResult = false;
  t.equal(
    grpcWriter.writeMessage(stream, type, Buffer.alloc(20_000)),
    false,
    "large messages: header then payload",
  );
  grpcWriter.endStream(stream, type, undefined);
  t.same(
    stream.events.map((e) => (e as unknown[])[0]),
    ["start", "write", "write", "write", "finish"],
  );
  t.equal((stream.events[3] as string[])[1]!.length, 40_000);
  t.same(stream.events.at(-1), ["finish", undefined, { "grpc-status": "0" }]);

  const early = new FakeSink();
  grpcWriter.writeError(
    early,
    type,
    new RpcError(Code.NotFound, "gone 100%", { details: new Uint8Array([1, 2]) }),
    md({ "x-h": ["h"] }),
    md({ "x-t": ["t"] }),
  );
  t.same(early.events, [
    [
      "respond",
      200,
      {
        "content-type": "application/grpc",
        "grpc-status": "5",
        "grpc-message": "gone 100%25",
        "grpc-status-details-bin": "AQI",
        "x-t": "t",
        "x-h": "h",
      },
      undefined,
      undefined,
    ],
  ]);
  const late = new FakeSink();
  late.headersSent = true;
  grpcWriter.writeError(late, type, new RpcError(Code.Unimplemented, ""), undefined, undefined);
  t.same(late.events, [
    ["finish", undefined, { "grpc-status": "12", "grpc-accept-encoding": "identity,gzip" }],
  ]);
});

t.test("gRPC trailers helpers", async (t) => {
  t.equal(grpcTrailers(undefined), grpcOkTrailers);
  t.equal(grpcTrailers(new Map()), grpcOkTrailers);
  t.same(
    grpcErrorTrailers(
      new RpcError(Code.Internal, "x", { metadata: md({ "bad key": ["v"], "x-ok": ["1"] }) }),
      undefined,
    ),
    {
      "grpc-status": "13",
      "grpc-message": "x",
      "x-ok": "1",
    },
    "invalid error metadata dropped, the rest kept",
  );
});

t.test("gRPC-Web: trailer frames, text mode", async (t) => {
  const type = ct("application/grpc-web+proto");
  const sink = new FakeSink("1.1");
  grpcWebWriter.writeUnary(sink, type, message, undefined, md({ "x-t": ["a", "b"] }));
  const trailer = "grpc-status: 0\r\nx-t: a\r\nx-t: b\r\n";
  t.same(sink.events, [
    [
      "respond",
      200,
      { "content-type": "application/grpc-web+proto" },
      `0000000002080180000000${Buffer.from([trailer.length]).toString("hex")}${hexOf(trailer)}`,
      undefined,
    ],
  ]);
  const text = ct("application/grpc-web-text");
  const textSink = new FakeSink("1.1");
  grpcWebWriter.startStream(textSink, text, undefined);
  grpcWebWriter.writeMessage(textSink, text, message);
  grpcWebWriter.endStream(textSink, text, undefined);
  t.equal(
    Buffer.from((textSink.events[1] as string[])[1]!, "hex").toString(),
    Buffer.from("00000000020801", "hex").toString("base64"),
  );
  t.equal(
    Buffer.from(Buffer.from((textSink.events[2] as string[])[1]!, "hex").toString(), "base64").toString(
      "hex",
    ),
    `8000000010${hexOf("grpc-status: 0\r\n")}`,
  );
  const late = new FakeSink();
  late.headersSent = true;
  grpcWebWriter.writeError(late, type, new RpcError(Code.Aborted, "a"), undefined, undefined);
  t.equal((late.events[0] as unknown[])[0], "finish");
  const early = new FakeSink();
  grpcWebWriter.writeError(early, type, new RpcError(Code.Aborted, "a"), undefined, undefined);
  t.equal((early.events[0] as unknown[])[0], "respond");
  t.equal(encodeTrailerLines({ a: "1", b: ["2", "3"] }).toString(), "a: 1\r\nb: 2\r\nb: 3\r\n");
});

t.test("gRPC-Web-Text request bodies", async (t) => {
  t.equal(decodeWebText(Buffer.from("AAEC")).toString("hex"), "000102");
  t.equal(decodeWebText(Buffer.from("AA==AQ==")).toString("hex"), "0001");
  t.equal(decodeWebText(Buffer.from("AA==\r\nAQI=AAA")).toString("hex"), "0001020000");
  t.equal(decodeWebText(Buffer.from("")).length, 0);
  t.throws(() => decodeWebText(Buffer.from("AA=A")), { code: Code.Internal });
  t.throws(() => decodeWebText(Buffer.from("A*B")), { code: Code.Internal });
  t.throws(() => decodeWebText(Buffer.from("AAAAA")), { code: Code.Internal });
  t.throws(() => decodeWebText(Buffer.from("===")), { code: Code.Internal });
});

t.test("triple unary: raw body, Trailer- headers, JSON errors", async (t) => {
  const type = ct("application/json");
  const sink = new FakeSink("1.1");
  tripleUnaryWriter.writeUnary(
    sink,
    type,
    new Uint8Array(Buffer.from("{}")),
    md({ "x-h": ["1"] }),
    md({ "x-t": ["2"] }),
  );
  t.same(sink.events, [
    [
      "respond",
      200,
      { "content-type": "application/json", "x-h": "1", "trailer-x-t": "2" },
      hexOf("{}"),
      undefined,
    ],
  ]);
  const err = new FakeSink("1.1");
  tripleUnaryWriter.writeError(
    err,
    type,
    new RpcError(Code.PermissionDenied, "no", { metadata: md({ "x-e": ["e"] }) }),
    undefined,
    md({ "x-t": ["t"] }),
  );
  t.same(err.events, [
    [
      "respond",
      403,
      { "content-type": "application/json", "x-e": "e", "trailer-x-t": "t" },
      hexOf('{"code":"permission_denied","status":7,"message":"no"}'),
      undefined,
    ],
  ]);
  const unimplemented = new FakeSink();
  tripleUnaryWriter.writeError(
    unimplemented,
    type,
    new RpcError(Code.Unimplemented, "x"),
    undefined,
    undefined,
  );
  t.equal((unimplemented.events[0] as unknown[])[1], 404);
  t.equal(
    ((unimplemented.events[0] as unknown[])[2] as Record<string, string>)["accept-encoding"],
    "identity,gzip",
  );
  t.throws(() => tripleUnaryWriter.startStream(sink, type, undefined), { code: Code.Internal });
  t.throws(() => tripleUnaryWriter.writeMessage(sink, type, message), { code: Code.Internal });
  t.throws(() => tripleUnaryWriter.endStream(sink, type, undefined), { code: Code.Internal });
});

t.test("triple streaming: end-stream envelopes", async (t) => {
  const type = ct("application/connect+proto");
  const unary = new FakeSink();
  tripleStreamWriter.writeUnary(unary, type, message, undefined, undefined);
  t.same(unary.events, [
    [
      "respond",
      200,
      { "content-type": "application/connect+proto" },
      `00000000020801020000000${2}${hexOf("{}")}`,
      undefined,
    ],
  ]);
  const stream = new FakeSink();
  tripleStreamWriter.startStream(stream, type, md({ "x-h": ["1"] }));
  tripleStreamWriter.writeMessage(stream, type, message);
  tripleStreamWriter.endStream(stream, type, md({ "x-t": ["2"] }));
  const end = '{"metadata":{"x-t":["2"]}}';
  t.same(stream.events, [
    ["start", 200, { "content-type": "application/connect+proto", "x-h": "1" }, false],
    ["write", "00000000020801"],
    ["finish", `02000000${Buffer.from([end.length]).toString("hex")}${hexOf(end)}`, undefined],
  ]);
  const early = new FakeSink();
  tripleStreamWriter.writeError(early, type, new RpcError(Code.Unimplemented, "u"), undefined, undefined);
  t.equal(
    ((early.events[0] as unknown[])[2] as Record<string, string>)["connect-accept-encoding"],
    "identity,gzip",
  );
  const late = new FakeSink();
  late.headersSent = true;
  tripleStreamWriter.writeError(late, type, new RpcError(Code.Internal, ""), undefined, undefined);
  t.same(late.events, [
    [
      "finish",
      `02000000${Buffer.from([41]).toString("hex")}${hexOf('{"error":{"code":"internal","status":13}}')}`,
      undefined,
    ],
  ]);
});

t.test("error JSON", async (t) => {
  t.same(errorToJson(new RpcError(Code.NotFound, "x")), { code: "not_found", status: 5, message: "x" });
  t.same(errorToJson(new RpcError(Code.Canceled, "")), { code: "canceled", status: 1 });
  t.equal(
    encodeErrorJson(new RpcError(Code.Unavailable, "down")).toString(),
    '{"code":"unavailable","status":14,"message":"down"}',
  );
  t.equal(encodeEndStreamJson(undefined, undefined).toString(), "{}");
  t.equal(encodeEndStreamJson(undefined, new Map()).toString(), "{}");
  t.equal(
    encodeEndStreamJson(new RpcError(Code.Aborted, "a"), md({ k: ["v"] })).toString(),
    '{"error":{"code":"aborted","status":10,"message":"a"},"metadata":{"k":["v"]}}',
  );
});

t.test("header helpers", async (t) => {
  const cache = headerCache((type) => ({ "content-type": type }));
  t.equal(cache("a"), cache("a"));
  t.ok(Object.isFrozen(cache("a")));
  t.ok(isEmpty(undefined));
  t.ok(isEmpty(new Map()));
  t.notOk(isEmpty(md({ a: ["1"] })));
  const base = { "content-type": "x" };
  t.equal(withMetadata(base, undefined), base);
  t.throws(() => withMetadata(base, md({ "Bad Key": ["v"] })), { code: Code.Internal });
  t.same(withMetadata(base, md({ "Bad Key": ["v"], ok: ["1"] }), "", true), { "content-type": "x", ok: "1" });
  t.same(withMetadata(base, md({ a: ["1"] }), "trailer-"), { "content-type": "x", "trailer-a": "1" });
  t.equal(mergeMetadata(undefined, new Map()), undefined);
  t.same(
    mergeMetadata(md({ a: ["1"] }), undefined, md({ a: ["2"], b: ["3"] })),
    md({ a: ["1", "2"], b: ["3"] }),
  );
});
