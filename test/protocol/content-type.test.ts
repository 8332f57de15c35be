import t from "tap";
import { mediaType, parseContentType, servedContentTypes } from "../../src/protocol/content-type.ts";

t.test("every served content-type maps to its protocol, codec and framing", async (t) => {
  const table: [string, string, string, boolean, boolean][] = [
    ["application/grpc", "grpc", "proto", true, false],
    ["application/grpc+proto", "grpc", "proto", true, false],
    ["application/grpc+json", "grpc", "json", true, false],
    ["application/grpc-web", "grpc-web", "proto", true, false],
    ["application/grpc-web+proto", "grpc-web", "proto", true, false],
    ["application/grpc-web+json", "grpc-web", "json", true, false],
    ["application/grpc-web-text", "grpc-web", "proto", true, true],
    ["application/grpc-web-text+proto", "grpc-web", "proto", true, true],
    ["application/grpc-web-text+json", "grpc-web", "json", true, true],
    ["application/json", "triple", "json", false, false],
    ["application/proto", "triple", "proto", false, false],
    ["application/connect+json", "triple", "json", true, false],
    ["application/connect+proto", "triple", "proto", true, false],
  ];
  t.equal(servedContentTypes.length, table.length);
  for (const [value, protocol, codec, enveloped, text] of table) {
    const info = parseContentType(value);
    t.same(info, { protocol, codec, enveloped, text, responseType: value }, value);
    t.ok(Object.isFrozen(info));
    t.equal(parseContentType(value), info, "the same shared object every time");
  }
});

t.test("case, whitespace and charset parameters", async (t) => {
  t.equal(parseContentType("Application/JSON")?.responseType, "application/json");
  t.equal(parseContentType("application/json; charset=utf-8")?.codec, "json");
  t.equal(parseContentType("application/json;charset=UTF-8")?.codec, "json");
  t.equal(parseContentType('application/json; charset="utf8"')?.codec, "json");
  t.equal(parseContentType("application/json; ")?.codec, "json");
  t.equal(parseContentType("application/grpc+json; charset=utf-8")?.protocol, "grpc");
  t.equal(parseContentType("application/json; charset=latin1"), undefined);
  t.equal(parseContentType("application/proto; charset=utf-8"), undefined, "charset only for JSON");
  t.equal(parseContentType("application/json; boundary=x"), undefined);
  t.equal(parseContentType("application/json; garbage"), undefined);
});

t.test("everything else is undefined (HTTP 415)", async (t) => {
  for (const value of [
    undefined,
    "",
    "text/plain",
    "application/grpc+thrift",
    "application/xml",
    "application/connect",
    "multipart/form-data",
  ]) {
    t.equal(parseContentType(value), undefined, String(value));
  }
});

t.test("mediaType: a received content-type without its parameters", async (t) => {
  t.equal(mediaType({ "content-type": "Application/JSON; charset=utf-8" }), "application/json");
  t.equal(mediaType({ "content-type": ["application/grpc", "text/plain"] }), "application/grpc");
  t.equal(mediaType({ "content-type": " application/proto " }), "application/proto");
  t.equal(mediaType({}), "");
});
