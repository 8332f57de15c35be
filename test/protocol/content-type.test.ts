import t from "tap";
import {
  acceptPost,
  acceptPostStreaming,
  mediaType,
  parseContentType,
  servedContentTypes,
} from "../../src/protocol/content-type.ts";

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

t.test("a JSON request that names its charset gets it back on the response", async (t) => {
  // dubbo-go and connect-go register "json; charset=utf-8" as a codec of its own and answer in it.
  for (const [value, response] of [
    ["application/json; charset=utf-8", "application/json; charset=utf-8"],
    ["application/json;charset=UTF-8", "application/json; charset=utf-8"],
    ['Application/JSON; charset="utf8"', "application/json; charset=utf-8"],
    ["application/connect+json; charset=utf-8", "application/connect+json; charset=utf-8"],
    ["application/grpc+json; charset=utf-8", "application/grpc+json; charset=utf-8"],
    ["application/grpc-web-text+json; charset=utf-8", "application/grpc-web-text+json; charset=utf-8"],
  ] as const) {
    const info = parseContentType(value);
    t.equal(info?.responseType, response, value);
    t.ok(Object.isFrozen(info));
    t.equal(parseContentType(value), info, "shared, as the plain forms");
  }
  const plain = parseContentType("application/json")!;
  const charset = parseContentType("application/json; charset=utf-8")!;
  t.same({ ...charset, responseType: plain.responseType }, plain, "the same call otherwise");
  t.equal(parseContentType("application/json; ")?.responseType, "application/json", "no charset: none back");
});

t.test("Accept-Post: connect-go's sorted, comma-separated list, charset forms included", async (t) => {
  const listed = acceptPost.split(", ");
  t.same(listed, [...listed].sort(), "sorted");
  for (const type of servedContentTypes) t.ok(listed.includes(type), type);
  t.ok(listed.includes("application/json; charset=utf-8"));
  t.ok(listed.includes("application/connect+json; charset=utf-8"));
  t.notOk(listed.includes("application/proto; charset=utf-8"), "charset only for JSON");
  for (const type of listed) t.ok(parseContentType(type), `${type} is accepted`);
  t.equal(listed.length, servedContentTypes.length + 5, "the five JSON types twice");
  const streaming = acceptPostStreaming.split(", ");
  t.notOk(streaming.includes("application/json"), "a streaming method takes no triple unary type");
  t.notOk(streaming.includes("application/proto"));
  t.ok(streaming.includes("application/connect+proto"));
  t.ok(streaming.includes("application/grpc"));
  for (const type of streaming) t.ok(parseContentType(type)?.enveloped, `${type} is enveloped`);
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
