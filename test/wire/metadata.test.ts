import t from "tap";
import { Code } from "../../src/wire/code.ts";
import {
  appendMetadataToHeaders,
  decodeBinaryHeader,
  defaultMaxMetadataBytes,
  encodeBinaryHeader,
  isReservedHeader,
  metadataFromHeaders,
} from "../../src/wire/metadata.ts";

t.test("reserved headers", async (t) => {
  for (const name of [
    ":path",
    ":authority",
    ":method",
    "content-type",
    "Content-Type",
    "content-length",
    "content-encoding",
    "accept-encoding",
    "te",
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "http2-settings",
    "expect",
    "trailer",
    "grpc-timeout",
    "grpc-encoding",
    "grpc-accept-encoding",
    "grpc-status",
    "grpc-message",
    "grpc-status-details-bin",
    "connect-protocol-version",
    "connect-timeout-ms",
    "connect-content-encoding",
    "Triple-Protocol-Version",
    "triple-timeout-ms",
    "tri-protocol-version",
    "TRI-Service-Timeout",
  ]) {
    t.ok(isReservedHeader(name), name);
  }
  for (const name of [
    "user-agent",
    "tri-service-group",
    "tri-service-version",
    "x-request-id",
    "authorization",
    "trace-bin",
    "grpcx",
    "trailer-x",
  ]) {
    t.notOk(isReservedHeader(name), name);
  }
});

t.test("metadataFromHeaders keeps user metadata only", async (t) => {
  const metadata = metadataFromHeaders({
    ":method": "POST",
    ":path": "/grpc.health.v1.Health/Check",
    "content-type": "application/grpc",
    te: "trailers",
    "grpc-timeout": "1S",
    "user-agent": "grpc-go/1.60",
    "tri-service-group": "g1",
    "x-multi": ["a", "b"],
    "x-empty": "",
    "x-missing": undefined,
    "X-Upper": "v",
  });
  t.same(
    [...metadata],
    [
      ["user-agent", ["grpc-go/1.60"]],
      ["tri-service-group", ["g1"]],
      ["x-multi", ["a", "b"]],
      ["x-empty", [""]],
      ["x-upper", ["v"]],
    ],
  );
  t.same([...metadataFromHeaders({})], []);
});

t.test("-bin values: base64 padded or not, normalized to unpadded standard base64", async (t) => {
  const metadata = metadataFromHeaders({
    "a-bin": "AQID",
    "b-bin": "AQI=",
    "c-bin": "AQI",
    "d-bin": "AQ==",
    "e-bin": "AQ",
    "f-bin": "",
    "g-bin": "-_8",
    "h-bin": "AQ==,AQI, AQID",
    "i-bin": ["AQ", "Ag=="],
  });
  t.same(metadata.get("a-bin"), ["AQID"]);
  t.same(metadata.get("b-bin"), ["AQI"]);
  t.same(metadata.get("c-bin"), ["AQI"]);
  t.same(metadata.get("d-bin"), ["AQ"]);
  t.same(metadata.get("e-bin"), ["AQ"]);
  t.same(metadata.get("f-bin"), [""]);
  t.same(metadata.get("g-bin"), ["+/8"], "URL-safe alphabet accepted");
  t.same(metadata.get("h-bin"), ["AQ", "AQI", "AQID"], "comma-separated values split");
  t.same(metadata.get("i-bin"), ["AQ", "Ag"]);
});

t.test("malformed -bin values are INTERNAL (grpc-go: malformed binary metadata)", async (t) => {
  for (const value of ["A", "AQ=", "AQI==", "A===", "AQ===", "AQ!D", "AQ D", "=", "AQID=", "AQ==AQ"]) {
    t.throws(() => metadataFromHeaders({ "x-bin": value }), { code: Code.Internal }, JSON.stringify(value));
    t.throws(() => decodeBinaryHeader(value), { code: Code.Internal, message: /malformed base64/ });
  }
});

t.test("decodeBinaryHeader / encodeBinaryHeader", async (t) => {
  t.same([...decodeBinaryHeader("AQID")], [1, 2, 3]);
  t.same([...decodeBinaryHeader("AQI=")], [1, 2]);
  t.same([...decodeBinaryHeader("AQI")], [1, 2]);
  t.same([...decodeBinaryHeader("")], []);
  t.equal(encodeBinaryHeader(new Uint8Array([1, 2, 3])), "AQID");
  t.equal(encodeBinaryHeader(new Uint8Array([1, 2])), "AQI");
  t.equal(encodeBinaryHeader(Buffer.from([1])), "AQ");
  t.equal(encodeBinaryHeader(new Uint8Array(0)), "");
  t.equal(encodeBinaryHeader(new Uint8Array([0xfb, 0xff])), "+/8");
  for (let n = 0; n < 40; n++) {
    const bytes = Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff));
    t.ok(decodeBinaryHeader(encodeBinaryHeader(bytes)).equals(bytes), `round trip ${n} bytes`);
  }
});

t.test("size limit: RESOURCE_EXHAUSTED", async (t) => {
  t.equal(defaultMaxMetadataBytes, 16 * 1024);
  // name + value + 32 per entry, as HPACK counts a header list.
  t.same([...metadataFromHeaders({ "x-a": "12345" }, { maxBytes: 3 + 5 + 32 })], [["x-a", ["12345"]]]);
  t.throws(() => metadataFromHeaders({ "x-a": "123456" }, { maxBytes: 3 + 5 + 32 }), {
    code: Code.ResourceExhausted,
  });
  t.throws(() => metadataFromHeaders({ "x-a": ["1", "2"] }, { maxBytes: 60 }), {
    code: Code.ResourceExhausted,
  });
  t.throws(() => metadataFromHeaders({ "x-big": "v".repeat(defaultMaxMetadataBytes) }), {
    code: Code.ResourceExhausted,
  });
  // Reserved headers are not counted.
  t.same([...metadataFromHeaders({ "content-type": "x".repeat(100_000) })], []);
  const many: Record<string, string> = {};
  for (let i = 0; i < 500; i++) many[`x-${i}`] = "v";
  t.throws(() => metadataFromHeaders(many), { code: Code.ResourceExhausted }, "many small entries add up");
});

t.test("appendMetadataToHeaders", async (t) => {
  const target: Record<string, string | string[]> = { "content-type": "application/grpc", "x-a": "0" };
  appendMetadataToHeaders(
    target,
    new Map([
      ["x-a", ["1"]],
      ["x-b", ["2"]],
      ["x-c", ["3", "4"]],
      ["X-D", ["5"]],
      ["x-e", []],
      ["content-type", ["text/plain"]],
      ["grpc-status", ["0"]],
      [":path", ["/x"]],
      ["trace-bin", ["AQI=", "-_8"]],
    ]),
  );
  t.same(target, {
    "content-type": "application/grpc",
    "x-a": ["0", "1"],
    "x-b": "2",
    "x-c": ["3", "4"],
    "x-d": "5",
    "trace-bin": ["AQI", "+/8"],
  });
  const arrays: Record<string, string | string[]> = { "x-a": ["0"] };
  appendMetadataToHeaders(arrays, new Map([["x-a", ["1"]]]));
  t.same(arrays, { "x-a": ["0", "1"] });
});

t.test("appendMetadataToHeaders rejects what HTTP cannot carry", async (t) => {
  const bad: [string, string][] = [
    ["x a", "v"],
    ["x:a", "v"],
    ["", "v"],
    ["é", "v"],
    ["x-a", "line\r\nbreak"],
    ["x-a", "é"],
    ["x-a", "\x00"],
    ["x-bin", "A"],
  ];
  for (const [key, value] of bad) {
    t.throws(
      () => appendMetadataToHeaders({}, new Map([[key, [value]]])),
      { code: Code.Internal },
      `${key}: ${value}`,
    );
  }
});
