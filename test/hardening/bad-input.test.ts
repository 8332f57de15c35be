// The reliability catalogue's bad inputs (docs: /work/shared/design/reliability.md, items 1–21, 28, 29),
// sent with raw node:http2 / node:http / net clients against a real server on 127.0.0.1. Each case asserts
// the exact gRPC code (or triple code + HTTP status) and that the server still answers a Check afterwards.
import { gzipSync } from "node:zlib";
import t, { type Test } from "tap";
import { Code } from "../../src/wire/code.ts";
import { grpcHeaders, type H2Response, h2once } from "../fixtures/h2-request.ts";
import { startServer } from "../fixtures/start-server.ts";
import {
  checkPath,
  checkRequest,
  envelope,
  frame,
  gc,
  goAwayCodes,
  grpcCheck,
  h1Check,
  h1request,
  hpackLiterals,
  listPath,
  parseFrames,
  preface,
  rawExchange,
  readEnvelopes,
  statusOf,
  tripleHeaders,
  watchPath,
} from "./fixtures/attack.ts";

const { server, port } = await startServer(t);
server.health.set("known.Service", 1);

let tried = 0;
let crashes = 0;
const onCrash = (): void => {
  crashes++;
};
process.on("uncaughtException", onCrash);
process.on("unhandledRejection", onCrash);

// After each case: the server still answers a Check, over h2 and over HTTP/1.1.
t.afterEach(async () => {
  t.equal(await grpcCheck(port), 1, "a Check still answers SERVING afterwards");
});

function grpc(
  path: string,
  chunks: Buffer[],
  extra: Record<string, string> = {},
  end = true,
): Promise<H2Response> {
  tried++;
  return h2once(port, grpcHeaders(path, extra), { body: chunks, end, timeoutMs: 5000 });
}

function expectGrpc(tt: Test, result: H2Response, code: Code, what: string): void {
  tt.equal(result.status, 200, `${what}: HTTP 200`);
  tt.equal(result.grpcStatus, code, `${what}: grpc-status ${code} (${result.grpcMessage ?? ""})`);
  tt.equal(result.rstCode, undefined, `${what}: answered, not reset`);
  tt.notOk(
    result.timedOut,
    `${what}: the server closed the stream (it did not stay open until the client gave up)`,
  );
}

const ok = checkRequest("");

t.test("framing: envelope lengths and flags (gRPC)", async (t) => {
  // 1. Length past the limit, decided from the header alone: the body is never sent, the stream stays open.
  const over = envelope(0, Buffer.alloc(0), 4 * 1024 * 1024 + 1);
  expectGrpc(
    t,
    await grpc(checkPath, [over], {}, false),
    Code.ResourceExhausted,
    "4 MiB + 1 length, body withheld",
  );
  // 2. 0xFFFFFFFF with 10 bytes: above the limit, so RESOURCE_EXHAUSTED from the header (as grpc-go).
  const huge = envelope(0, Buffer.alloc(10), 0xffffffff);
  expectGrpc(t, await grpc(checkPath, [huge]), Code.ResourceExhausted, "0xFFFFFFFF length");
  // 2'. A length within the limit but a body that ends early: truncated → INTERNAL.
  const short = envelope(0, Buffer.alloc(10), 1000);
  expectGrpc(t, await grpc(checkPath, [short]), Code.Internal, "truncated envelope");
  // 3. Body ends inside the 5-byte header.
  expectGrpc(t, await grpc(checkPath, [Buffer.from([0, 0, 0])]), Code.Internal, "3 of 5 header bytes");
  // 4. Reserved flag bits (also the end-stream and trailer bits, which a request must not carry).
  for (const flags of [0x04, 0x40, 0x02, 0x80, 0xff]) {
    expectGrpc(
      t,
      await grpc(checkPath, [envelope(flags, ok)]),
      Code.Internal,
      `flags 0x${flags.toString(16)}`,
    );
  }
  // 5. Compressed flag without an encoding, or with identity.
  expectGrpc(t, await grpc(checkPath, [envelope(1, ok)]), Code.Internal, "compressed flag, no grpc-encoding");
  expectGrpc(
    t,
    await grpc(checkPath, [envelope(1, ok)], { "grpc-encoding": "identity" }),
    Code.Internal,
    "compressed flag, grpc-encoding identity",
  );
  // 9. Two messages, zero messages on a unary method: INTERNAL (grpc-go: "grpc: client streaming
  // protocol violation"), never a hang.
  expectGrpc(t, await grpc(checkPath, [envelope(0, ok), envelope(0, ok)]), Code.Internal, "two messages");
  expectGrpc(t, await grpc(checkPath, []), Code.Internal, "zero messages");
  expectGrpc(t, await grpc(watchPath, []), Code.Internal, "zero messages on Watch");
  // An envelope split byte by byte is still one valid request.
  const split = [...envelope(0, checkRequest("known.Service"))].map((b) => Buffer.from([b]));
  const answered = await grpc(checkPath, split);
  expectGrpc(t, answered, Code.Ok, "envelope split into 1-byte DATA frames");
  t.equal(statusOf(readEnvelopes(answered.body)[0]?.payload ?? Buffer.alloc(0)), 1);
});

t.test("compression (gRPC)", async (t) => {
  // 6. Unsupported encoding: UNIMPLEMENTED, grpc-accept-encoding lists the accepted ones.
  const br = await grpc(checkPath, [envelope(1, ok)], { "grpc-encoding": "br" });
  expectGrpc(t, br, Code.Unimplemented, "grpc-encoding br");
  const accept = String(br.headers["grpc-accept-encoding"] ?? br.trailers?.["grpc-accept-encoding"] ?? "");
  t.match(accept, /gzip/, "grpc-accept-encoding names gzip");
  t.match(accept, /identity/, "grpc-accept-encoding names identity");
  // Valid gzip works.
  const gz = await grpc(checkPath, [envelope(1, gzipSync(checkRequest("known.Service")))], {
    "grpc-encoding": "gzip",
  });
  expectGrpc(t, gz, Code.Ok, "valid gzip");
  // 7. gzip bomb: ~100 KiB inflating to 100 MiB; memory stays near the 4 MiB limit.
  const bomb = gzipSync(Buffer.alloc(100 * 1024 * 1024), { level: 9 });
  t.ok(bomb.length < 200 * 1024, `bomb is ${bomb.length} bytes compressed`);
  gc();
  const before = process.memoryUsage();
  let peak = before.rss;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 2);
  const bombed = await grpc(checkPath, [envelope(1, bomb)], { "grpc-encoding": "gzip" });
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  expectGrpc(t, bombed, Code.ResourceExhausted, "gzip bomb");
  // The limit is 4 MiB; zlib works in chunks; 48 MiB of slack still rules out inflating 100 MiB.
  t.ok(
    peak - before.rss < 48 * 1024 * 1024,
    `rss grew ${((peak - before.rss) / 1048576).toFixed(1)} MiB (< 48)`,
  );
  // 8. Corrupt gzip.
  const corrupt = Buffer.from(gzipSync(Buffer.from("hello world hello world")));
  corrupt[12] = (corrupt[12] ?? 0) ^ 0xff;
  corrupt[corrupt.length - 5] = (corrupt[corrupt.length - 5] ?? 0) ^ 0xff;
  expectGrpc(
    t,
    await grpc(checkPath, [envelope(1, corrupt)], { "grpc-encoding": "gzip" }),
    Code.Internal,
    "corrupt gzip",
  );
  expectGrpc(
    t,
    await grpc(checkPath, [envelope(1, Buffer.from("not gzip at all"))], { "grpc-encoding": "gzip" }),
    Code.Internal,
    "not gzip",
  );
});

t.test("protobuf bodies (gRPC → INTERNAL)", async (t) => {
  // 10. Invalid varint, wrong wire type, length past the end.
  const garbage: [string, Buffer][] = [
    ["invalid varint", Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])],
    ["length past the end", Buffer.from([0x0a, 0x20, 0x61])],
    // protobufjs reads a known field without checking its wire type, so the invalid wire type 7 is sent
    // on an unknown field number, where it is checked.
    ["invalid wire type 7", Buffer.from([0x17, 1, 2, 3])],
    ["end-group without start", Buffer.from([0x0c])],
    ["field number 0", Buffer.from([0x02, 0x01, 0x00])],
  ];
  for (const [what, payload] of garbage) {
    expectGrpc(t, await grpc(checkPath, [envelope(0, payload)]), Code.Internal, what);
  }
  // 13. Invalid UTF-8 in the proto string field.
  const badUtf8 = checkRequest(Buffer.from([0xc3, 0x28, 0xff, 0xfe]));
  expectGrpc(t, await grpc(checkPath, [envelope(0, badUtf8)]), Code.Internal, "invalid UTF-8 in service");
});

t.test("service names (size limit, no echo)", async (t) => {
  // 12. 10 KiB of non-ASCII: answered NOT_FOUND, and the name is not echoed back.
  const name = "ü".repeat(5 * 1024);
  const result = await grpc(checkPath, [envelope(0, checkRequest(name))]);
  expectGrpc(t, result, Code.NotFound, "10 KiB non-ASCII name");
  t.ok((result.grpcMessage ?? "").length < 256, "grpc-message is short");
  // 1 MiB name with a 64 KiB message limit: refused by the limit.
  const small = await startServer(t, { maxMessageBytes: 64 * 1024 });
  try {
    tried++;
    const big = await h2once(small.port, grpcHeaders(checkPath), {
      body: [envelope(0, checkRequest("a".repeat(1024 * 1024)))],
    });
    expectGrpc(t, big, Code.ResourceExhausted, "1 MiB name above a 64 KiB limit");
    t.equal(await grpcCheck(small.port), 1);
  } finally {
    await small.server.close({ graceMs: 0 });
  }
  // 1 MiB name under the default 4 MiB limit: answered NOT_FOUND, not echoed.
  const mib = await grpc(checkPath, [envelope(0, checkRequest("a".repeat(1024 * 1024)))]);
  expectGrpc(t, mib, Code.NotFound, "1 MiB name, default limit");
  t.ok((mib.grpcMessage ?? "").length < 256, "grpc-message is short");
});

t.test("headers (gRPC): timeouts, -bin metadata, paths", async (t) => {
  // 17. Malformed grpc-timeout → INTERNAL (grpc-go, grpc-js).
  for (const value of ["10", "10x", "123456789S", "-1S", "", "1.5S", "1s", "S", "1SS"]) {
    expectGrpc(
      t,
      await grpc(checkPath, [envelope(0, ok)], { "grpc-timeout": value }),
      Code.Internal,
      `grpc-timeout "${value}"`,
    );
  }
  // A huge but valid timeout is fine (99999999H does not overflow the timer).
  expectGrpc(
    t,
    await grpc(checkPath, [envelope(0, ok)], { "grpc-timeout": "99999999H" }),
    Code.Ok,
    "grpc-timeout 99999999H",
  );
  // 21. Invalid base64 in -bin metadata.
  expectGrpc(
    t,
    await grpc(checkPath, [envelope(0, ok)], { "x-trace-bin": "!!!not base64***" }),
    Code.Internal,
    "-bin not base64",
  );
  // 16. Unknown service, method, path shapes → UNIMPLEMENTED.
  const paths = [
    "/nope.Service/Check",
    "/grpc.health.v1.Health/Nope",
    "/grpc.health.v1.Health",
    "/grpc.health.v1.Health/",
    "/",
    "/grpc.health.v1.Health/../Check",
    "/grpc.health.v1.Health%2FCheck",
    "/grpc.health.v1.Health/Check/extra",
    `/${"x".repeat(8000)}/Check`,
    "/grpc.health.v1.Health/Ch%00eck",
  ];
  for (const path of paths) {
    const result = await grpc(path, [envelope(0, ok)]);
    expectGrpc(t, result, Code.Unimplemented, `path ${path.slice(0, 60)}`);
    t.ok((result.grpcMessage ?? "").length < 512, "the message does not echo a long path");
  }
});

t.test("content-types and methods (HTTP/2)", async (t) => {
  // 14. Missing / foreign content-type → 415.
  for (const type of [
    undefined,
    "text/plain",
    "application/grpcx",
    "application/json; charset=latin1",
    "application/xml",
  ]) {
    tried++;
    const headers = grpcHeaders(checkPath);
    if (type === undefined) delete headers["content-type"];
    else headers["content-type"] = type;
    const result = await h2once(port, headers, { body: [envelope(0, ok)] });
    t.equal(result.status, 415, `content-type ${type}: 415`);
  }
  // 15. GET, PUT, DELETE on an RPC path → 405 with Allow: POST.
  for (const method of ["GET", "PUT", "DELETE", "PATCH", "HEAD"]) {
    tried++;
    const result = await h2once(port, { ...grpcHeaders(checkPath), ":method": method }, { body: [] });
    t.equal(result.status, 405, `${method}: 405`);
    t.equal(result.headers.allow, "POST", `${method}: Allow: POST`);
  }
});

t.test("triple unary bodies (HTTP/2 and HTTP/1.1)", async (t) => {
  // 11. Bad JSON → 400 invalid_argument. Unknown and duplicate fields and an empty body too: proto3 JSON as
  // protojson (dubbo-go's and connect-go's codec) reads it (mesh item 7; they were accepted before).
  const bad: [string, string][] = [
    ["invalid JSON", "{"],
    ["an empty body", ""],
    ["an unknown field", '{"service":"known.Service","extra":[1,2,{"a":null}]}'],
    ["a field twice", '{"service":"nope","service":"known.Service"}'],
    ["a field twice, escaped", '{"service":"nope","\\u0073ervice":"known.Service"}'],
    ["service is a number", '{"service":5}'],
    ["array", "[]"],
    ["string", '"x"'],
    ["null", "null"],
    ["service is an object", '{"service":{}}'],
    ["trailing garbage", '{"service":""} x'],
  ];
  for (const [what, body] of bad) {
    tried++;
    const h2 = await h2once(port, tripleHeaders(checkPath), { body: [Buffer.from(body)] });
    t.equal(h2.status, 400, `h2 ${what}: 400`);
    t.match(
      JSON.parse(h2.body.toString()),
      { code: "invalid_argument", status: 3 },
      `h2 ${what}: invalid_argument`,
    );
    tried++;
    const h1 = await h1request(port, {
      headers: { "content-type": "application/json" },
      body: Buffer.from(body),
    });
    t.equal(h1.status, 400, `h1 ${what}: 400`);
    t.match(h1.json, { code: "invalid_argument", status: 3 }, `h1 ${what}: invalid_argument`);
  }
  // What stays accepted: `{}`, null for a field, whitespace around it all.
  tried++;
  const accepted = await h1request(port, {
    headers: { "content-type": "application/json" },
    body: Buffer.from(' {"service" : null}\n'),
  });
  t.equal(accepted.status, 200, "null is the default");
  t.same(accepted.json, { status: "SERVING" });
  // 10. Protobuf garbage over triple → 400 invalid_argument.
  tried++;
  const proto = await h1request(port, {
    headers: { "content-type": "application/proto" },
    body: Buffer.from([0x0a, 0x20, 0x61]),
  });
  t.equal(proto.status, 400, "triple proto garbage: 400");
  t.match(proto.json, { code: "invalid_argument" });
  // 13. Invalid UTF-8 in a JSON body and in a proto string.
  tried++;
  const badJson = await h1request(port, {
    headers: { "content-type": "application/json" },
    body: Buffer.concat([Buffer.from('{"service":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}')]),
  });
  t.equal(badJson.status, 400, "invalid UTF-8 in JSON: 400");
  tried++;
  const badProto = await h1request(port, {
    headers: { "content-type": "application/proto" },
    body: checkRequest(Buffer.from([0xc3, 0x28, 0xff])),
  });
  t.equal(badProto.status, 400, "invalid UTF-8 in a proto string: 400");
  // 17. Triple timeouts with 11 digits or junk → 400 invalid_argument.
  for (const [name, value] of [
    ["triple-timeout-ms", "12345678901"],
    ["tri-service-timeout", "12345678901"],
    ["connect-timeout-ms", "12345678901"],
    ["triple-timeout-ms", "-5"],
    ["triple-timeout-ms", "1e3"],
  ] as const) {
    tried++;
    const result = await h1request(port, {
      headers: { "content-type": "application/json", [name]: value },
      body: Buffer.from("{}"),
    });
    t.equal(result.status, 400, `${name}: ${value} → 400`);
    t.match(result.json, { code: "invalid_argument" });
  }
  // 19. Wrong protocol versions.
  for (const [name, value] of [
    ["triple-protocol-version", "9.9.9"],
    ["tri-protocol-version", "9.9.9"],
    ["connect-protocol-version", "2"],
  ] as const) {
    tried++;
    const result = await h1request(port, {
      headers: { "content-type": "application/json", [name]: value },
      body: Buffer.from("{}"),
    });
    t.equal(result.status, 400, `${name}: ${value} → 400`);
    t.match(result.json, { code: "invalid_argument", status: 3 });
  }
  // 16 over triple: unknown path → 404 unimplemented.
  tried++;
  const unknownPath = await h1request(port, {
    path: "/nope.Service/Check",
    headers: { "content-type": "application/json" },
    body: Buffer.from("{}"),
  });
  t.equal(unknownPath.status, 404);
  t.match(unknownPath.json, { code: "unimplemented", status: 12 });
  // Body above the limit (unary triple, no envelope): 429 resource_exhausted without reading it all.
  tried++;
  const small = await startServer(t, { maxMessageBytes: 1024 });
  try {
    const big = await h1request(small.port, {
      headers: { "content-type": "application/json" },
      body: Buffer.from(`{"service":"${"a".repeat(64 * 1024)}"}`),
    });
    t.equal(big.status, 429, "triple body past the limit: 429");
    t.match(big.json, { code: "resource_exhausted" });
    t.equal(await grpcCheck(small.port), 1);
  } finally {
    await small.server.close({ graceMs: 0 });
  }
  // Streaming method on a unary content-type → 415.
  tried++;
  const watchUnary = await h1request(port, {
    path: watchPath,
    headers: { "content-type": "application/json" },
    body: Buffer.from("{}"),
  });
  t.equal(watchUnary.status, 415, "Watch with application/json: 415");
  t.ok(await h1Check(port));
});

t.test("triple streaming (connect+json) bad input ends in an end-stream error", async (t) => {
  tried++;
  const result = await h2once(
    port,
    tripleHeaders(watchPath, { "content-type": "application/connect+json" }),
    {
      body: [envelope(0x04, Buffer.from("{}"))],
    },
  );
  t.equal(result.status, 200);
  const end = readEnvelopes(result.body).find((e) => (e.flags & 0x02) !== 0);
  t.ok(end, "an end-stream envelope");
  // Catalogue 4: reserved flag bits are INTERNAL whatever the protocol (connect-go does the same).
  t.match(
    JSON.parse(end?.payload.toString() ?? "{}"),
    { error: { code: "internal", status: 13 } },
    "reserved flag → internal",
  );
  tried++;
  const list = await h2once(port, tripleHeaders(listPath, { "content-type": "application/connect+json" }), {
    body: [envelope(0, Buffer.from("[]"))],
  });
  const listEnd = readEnvelopes(list.body).find((e) => (e.flags & 0x02) !== 0);
  t.match(
    JSON.parse(listEnd?.payload.toString() ?? "{}"),
    { error: { code: "invalid_argument" } },
    "[] → invalid_argument",
  );
});

t.test("gRPC-Web (HTTP/1.1): the status travels in the trailer frame", async (t) => {
  const ok64 = envelope(0, ok).toString("base64");
  const cases: [string, string, Buffer, Code][] = [
    ["text: not base64", "application/grpc-web-text", Buffer.from("%%%not base64"), Code.Internal],
    ["text: cut base64", "application/grpc-web-text", Buffer.from(ok64.slice(0, 5)), Code.Internal],
    ["reserved flag 0x40", "application/grpc-web", envelope(0x40, Buffer.alloc(0)), Code.Internal],
    ["trailer flag on a request", "application/grpc-web", envelope(0x80, Buffer.alloc(0)), Code.Internal],
    ["JSON array", "application/grpc-web+json", envelope(0, Buffer.from("[]")), Code.Internal],
    ["valid text request", "application/grpc-web-text", Buffer.from(ok64), Code.Ok],
  ];
  for (const [what, type, body, code] of cases) {
    tried++;
    const result = await h1request(port, { headers: { "content-type": type }, body });
    t.equal(result.status, 200, `${what}: HTTP 200`);
    const raw = type.includes("text") ? Buffer.from(result.body.toString("latin1"), "base64") : result.body;
    const status = /grpc-status: ?(\d+)/.exec(raw.toString("latin1"))?.[1];
    t.equal(Number(status), code, `${what}: grpc-status ${code}`);
  }
});

t.test("HTTP/1.1: content-types, methods, garbage", async (t) => {
  for (const type of [undefined, "text/html", "multipart/form-data"]) {
    tried++;
    const headers: Record<string, string> = {};
    if (type !== undefined) headers["content-type"] = type;
    const result = await h1request(port, { headers, body: Buffer.from("{}") });
    t.equal(result.status, 415, `HTTP/1.1 content-type ${type}: 415`);
  }
  for (const method of ["GET", "PUT", "DELETE", "OPTIONS"]) {
    tried++;
    const result = await h1request(port, { method, headers: { "content-type": "application/json" } });
    t.equal(result.status, 405, `HTTP/1.1 ${method}: 405`);
    t.equal(result.headers.allow, "POST");
  }
  // 28. Garbage first bytes (neither the preface nor a request line) → 400 and the connection closed.
  const garbage: Buffer[] = [
    Buffer.from("\x00\x01\x02\x03garbage\r\n\r\n", "latin1"),
    Buffer.from("HELLO\r\n\r\n"),
    Buffer.from("POST /grpc.health.v1.Health/Check HTTP/9.9\r\n\r\n"),
    Buffer.from("POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n"),
    Buffer.from("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello"),
    Buffer.from("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n"),
    Buffer.from("POST / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"),
    Buffer.from(`GET /${"a".repeat(100 * 1024)} HTTP/1.1\r\n\r\n`),
    Buffer.from("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"),
  ];
  for (const bytes of garbage) {
    tried++;
    const result = await rawExchange(port, [bytes], { timeoutMs: 3000 });
    t.ok(
      result.closedByServer,
      `closed by the server: ${JSON.stringify(bytes.subarray(0, 30).toString("latin1"))}`,
    );
    const text = result.data.toString("latin1");
    t.ok(
      text === "" || /^HTTP\/1\.1 4\d\d /.test(text),
      `a 4xx or nothing: ${JSON.stringify(text.slice(0, 40))}`,
    );
  }
  // A header list past 16 KiB → 431 (node:http).
  tried++;
  const flood = await rawExchange(
    port,
    [Buffer.from(`POST ${checkPath} HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(64 * 1024)}\r\n\r\n`)],
    { timeoutMs: 3000 },
  );
  t.match(flood.data.toString("latin1"), /^HTTP\/1\.1 431 /, "64 KiB of headers: 431");
  tried++;
  const pairs = Array.from({ length: 1000 }, (_, i) => `X-H${i}: v\r\n`).join("");
  const many = await rawExchange(
    port,
    [
      Buffer.from(
        `POST ${checkPath} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n${pairs}\r\n{}`,
      ),
    ],
    { timeoutMs: 3000 },
  );
  t.match(many.data.toString("latin1"), /^HTTP\/1\.1 (200|431) /, "1,000 small headers: answered or 431");
});

t.test("HTTP/2: header floods, garbage frames", async (t) => {
  // 20. 1,000 header pairs (the default limit is 128 pairs): refused, the connection handled.
  tried++;
  const headers = grpcHeaders(checkPath);
  for (let i = 0; i < 1000; i++) headers[`x-h${i}`] = "v";
  const flood = await h2once(port, headers, { body: [envelope(0, ok)] });
  t.ok(
    flood.grpcStatus !== 0,
    `1,000 pairs refused (status ${flood.status}, rst ${flood.rstCode}, grpc ${flood.grpcStatus})`,
  );
  // 1 MiB of headers in one value: above SETTINGS_MAX_HEADER_LIST_SIZE (64 KiB).
  tried++;
  const big = await h2once(port, grpcHeaders(checkPath, { "x-big": "a".repeat(1024 * 1024) }), {
    body: [envelope(0, ok)],
  });
  t.ok(
    big.grpcStatus !== 0,
    `1 MiB of headers refused (status ${big.status}, rst ${big.rstCode}, ${big.error?.message})`,
  );
  // User metadata past maxMetadataBytes (16 KiB) but under the HTTP/2 limit: RESOURCE_EXHAUSTED or answered.
  tried++;
  const meta = await h2once(port, grpcHeaders(checkPath, { "x-meta": "a".repeat(32 * 1024) }), {
    body: [envelope(0, ok)],
  });
  t.ok(
    meta.grpcStatus === 0 || meta.grpcStatus === Code.ResourceExhausted,
    `32 KiB metadata: ${meta.grpcStatus}`,
  );
  // Non-UTF-8 bytes in the path and in a metadata value (raw HPACK: node's client would refuse them).
  for (const [what, path, value] of [
    ["non-UTF-8 path", "/grpc.health.v1.Health/\xff\xfeCheck", "x"],
    ["non-UTF-8 service in the path", "/\xc3\x28.Service/Check", "x"],
    ["non-UTF-8 metadata value", checkPath, "\xff\xfe\xfd"],
  ] as const) {
    tried++;
    const block = hpackLiterals([
      [":method", "POST"],
      [":scheme", "http"],
      [":path", path],
      [":authority", "127.0.0.1"],
      ["content-type", "application/grpc"],
      ["x-meta", value],
    ]);
    const request = Buffer.concat([
      preface,
      frame(0x4, 0, 0),
      frame(0x1, 0x4, 1, block),
      frame(0x0, 0x1, 1, envelope(0, ok)),
    ]);
    const result = await rawExchange(port, [request], { timeoutMs: 500 });
    const frames = parseFrames(result.data);
    t.ok(
      frames.some((f) => f.type === 0x1 && f.streamId === 1),
      `${what}: answered with HEADERS`,
    );
    t.same(
      goAwayCodes(result.data).filter((c) => c !== 0),
      [],
      `${what}: no connection error`,
    );
  }
  // 29. The preface, then garbage frames → GOAWAY PROTOCOL_ERROR (1) or FRAME_SIZE_ERROR (6).
  const garbageFrames: [string, Buffer][] = [
    ["random bytes", Buffer.from("this is not an http/2 frame at all, really not")],
    ["DATA on stream 0", frame(0x0, 0, 0, Buffer.from("x"))],
    ["HEADERS on stream 2 (even)", frame(0x1, 0x4, 2, Buffer.from([0x82]))],
    ["SETTINGS with bad length", frame(0x4, 0, 0, Buffer.from([1, 2, 3]))],
    ["WINDOW_UPDATE of 0", frame(0x8, 0, 0, Buffer.alloc(4))],
    ["PING with 3 bytes", frame(0x6, 0, 0, Buffer.from([1, 2, 3]))],
    ["HEADERS with invalid HPACK", frame(0x1, 0x5, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]))],
    [
      "16 MiB frame length",
      Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1]), Buffer.alloc(100)]),
    ],
  ];
  for (const [what, bytes] of garbageFrames) {
    tried++;
    const result = await rawExchange(port, [preface, frame(0x4, 0, 0), bytes], { timeoutMs: 1000 });
    const codes = goAwayCodes(result.data);
    t.ok(
      codes.length > 0 && codes.every((c) => c !== 0),
      `${what}: GOAWAY with an error (${codes.join(",")})`,
    );
  }
});

t.test("totals", async (t) => {
  t.equal(crashes, 0, "no uncaught exception or unhandled rejection in the process");
  t.equal(server.health.watcherCount, 0, "no watcher left");
  t.equal(server.handler.activeStreams, 0, "no server stream left");
  t.comment(`bad inputs tried: ${tried}`);
});
