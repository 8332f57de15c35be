import protobuf from "protobufjs";
import t from "tap";
import { healthCodecs } from "../../src/codec/health-codecs.ts";
import {
  type HealthListResponse,
  parseServingStatus,
  ServingStatus,
  servingStatusName,
} from "../../src/codec/health-types.ts";
import { createMessageCodec } from "../../src/codec/message-codec.ts";
import { loadProtoFiles, protoDir } from "../../src/codec/proto-files.ts";
import { Code } from "../../src/wire/code.ts";
import { RpcError } from "../../src/wire/rpc-error.ts";

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString();
const json = (value: string) => Buffer.from(value);

t.test("the Health reply as the seed shows it", async (t) => {
  t.equal(
    text(healthCodecs.checkResponse.encodeJson({ status: ServingStatus.Serving })),
    '{"status":"SERVING"}',
  );
  t.equal(
    text(healthCodecs.checkResponse.encode({ status: ServingStatus.NotServing }, "json")),
    '{"status":"NOT_SERVING"}',
  );
  // The zero value is left out, as protojson writes it (dubbo-go, connect-go): UNKNOWN is `{}`.
  t.equal(text(healthCodecs.checkResponse.encodeJson({ status: ServingStatus.Unknown })), "{}");
  t.same(healthCodecs.checkResponse.decodeJson(json("{}")), { status: ServingStatus.Unknown }, "read back");
  t.equal(text(healthCodecs.checkRequest.encodeJson({ service: "" })), "{}", "the server as a whole");
  t.same(
    Buffer.from(healthCodecs.checkResponse.encodeBinary({ status: ServingStatus.Serving })),
    Buffer.from([0x08, 0x01]),
  );
  t.same(
    Buffer.from(healthCodecs.checkResponse.encode({ status: ServingStatus.Serving }, "proto")),
    Buffer.from([8, 1]),
  );
});

t.test("requests decode from JSON and binary", async (t) => {
  t.same(healthCodecs.checkRequest.decodeJson(json('{"service":"greet.GreetService"}')), {
    service: "greet.GreetService",
  });
  t.same(
    healthCodecs.checkRequest.decode(json("{}"), "json"),
    { service: "" },
    "empty object is the default",
  );
  t.throws(() => healthCodecs.checkRequest.decodeJson(json('{"service":"a","unknownField":[1]}')), {
    code: Code.InvalidArgument,
    message: /unknown field "unknownField"/,
  });
  t.equal(healthCodecs.checkRequest.decode(Buffer.from([0x0a, 0x01, 0x61]), "proto").service, "a");
  t.equal(healthCodecs.checkRequest.decodeBinary(new Uint8Array(0)).service, "", "empty body is the default");
  t.same(healthCodecs.checkResponse.decodeJson(json('{"status":"NOT_SERVING"}')), { status: 2 });
  t.same(healthCodecs.checkResponse.decodeJson(json('{"status":3}')), { status: 3 });
});

t.test("bad bodies are INVALID_ARGUMENT with a reason", async (t) => {
  const bad: [string, RegExp][] = [
    ['{"service":5}', /service: string expected/],
    ["[]", /object expected/],
    ['"x"', /object expected/],
    ["null", /object expected/],
    ["{", /from JSON/],
    ["", /empty body/],
    ['{"service":"a","service":"b"}', /duplicate field "service"/],
    ['{"service":"a","Service":"b"}', /unknown field "Service"/],
    ['{"status":"SOMETIMES"}', /enum value expected/],
  ];
  for (const [body, reason] of bad) {
    const codec = body.includes("status") ? healthCodecs.checkResponse : healthCodecs.checkRequest;
    t.throws(() => codec.decodeJson(json(body)), { code: Code.InvalidArgument, message: reason }, body);
  }
  t.throws(
    () => healthCodecs.checkRequest.decodeJson(Buffer.from([0x7b, 0xff, 0x7d])),
    {
      code: Code.InvalidArgument,
    },
    "invalid UTF-8",
  );
  const garbage = [
    Buffer.from([0x0a, 0x05, 0x61]),
    Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
    Buffer.from([0x0f]),
  ];
  for (const bytes of garbage) {
    const error = t.throws(() => healthCodecs.checkRequest.decodeBinary(bytes)) as unknown;
    t.ok(error instanceof RpcError && error.code === Code.InvalidArgument, bytes.toString("hex"));
  }
});

t.test("maps and nested messages", async (t) => {
  const list: HealthListResponse = { statuses: { "": { status: 1 }, a: { status: 2 } } };
  t.equal(
    text(healthCodecs.listResponse.encodeJson(list)),
    '{"statuses":{"":{"status":"SERVING"},"a":{"status":"NOT_SERVING"}}}',
  );
  const decoded = healthCodecs.listResponse.decodeBinary(healthCodecs.listResponse.encodeBinary(list));
  t.equal(decoded.statuses["a"]?.status, ServingStatus.NotServing);
  t.same(healthCodecs.listResponse.decodeJson(json('{"statuses":{"x":{"status":"SERVING"}}}')), {
    statuses: { x: { status: 1 } },
  });
  t.throws(() => healthCodecs.listResponse.decodeJson(json('{"statuses":[]}')), /statuses: object expected/);
  t.throws(
    () => healthCodecs.listResponse.decodeJson(json('{"statuses":{"x":{"status":true}}}')),
    /statuses\.x\.status/,
  );
  t.same(healthCodecs.listRequest.decodeJson(json("{}")), {});
});

t.test("every scalar kind in the JSON shape check", async (t) => {
  const root = loadProtoFiles("health.proto");
  root.add(
    new protobuf.Type("Scalars")
      .add(new protobuf.Field("text", 1, "string"))
      .add(new protobuf.Field("raw", 2, "bytes"))
      .add(new protobuf.Field("flag", 3, "bool"))
      .add(new protobuf.Field("ratio", 4, "double"))
      .add(new protobuf.Field("count", 5, "int64"))
      .add(new protobuf.Field("tags", 6, "string", "repeated"))
      .add(new protobuf.Field("camel", 7, "int32")),
  );
  const codec = createMessageCodec(root.lookupType("Scalars"));
  t.equal(codec.typeName, "Scalars");
  const good = '{"text":"a","raw":"AAE=","flag":true,"ratio":"NaN","count":"12","tags":["x"],"camel":3}';
  t.match(codec.decodeJson(json(good)), { text: "a", flag: true, tags: ["x"], camel: 3 });
  t.ok(codec.decodeJson(json('{"ratio":1.5,"count":7}')));
  const bad = [
    '{"raw":"***"}',
    '{"flag":"yes"}',
    '{"ratio":"many"}',
    '{"count":1.5}',
    '{"count":"12a"}',
    '{"tags":"x"}',
    '{"tags":[1]}',
    '{"camel":"x"}',
    '{"nothing":null}',
    '{"text":"a","text":"b"}',
  ];
  for (const body of bad) t.throws(() => codec.decodeJson(json(body)), { code: Code.InvalidArgument }, body);
});

t.test("serving status names", async (t) => {
  t.equal(servingStatusName(ServingStatus.ServiceUnknown), "SERVICE_UNKNOWN");
  t.equal(servingStatusName(9 as ServingStatus), "UNKNOWN");
  t.equal(parseServingStatus("not_serving"), ServingStatus.NotServing);
  t.equal(parseServingStatus(1), ServingStatus.Serving);
  t.equal(parseServingStatus(4), undefined);
  t.equal(parseServingStatus(1.5), undefined);
  t.equal(parseServingStatus("sometimes"), undefined);
});

t.test("proto files load from the package's proto folder or an absolute path", async (t) => {
  t.ok(protoDir.endsWith("/proto/"));
  t.ok(loadProtoFiles(`${protoDir}greet.proto`).lookupService("greet.GreetService"));
});

t.test("flat messages are read from JSON in one pass with the same checks", async (t) => {
  const type = new protobuf.Type("Flat")
    .add(new protobuf.Field("name", 1, "string"))
    .add(new protobuf.Field("ratio", 2, "double"))
    .add(new protobuf.Field("count", 3, "int32"))
    .add(new protobuf.Field("on", 4, "bool"));
  new protobuf.Root().add(type);
  const codec = createMessageCodec(type);
  t.throws(() => codec.decodeJson(json('{"ratio":"1.5","extra":{}}')), /unknown field "extra"/);
  t.same(codec.decodeJson(json('{"ratio":"1.5","count":"7"}')), {
    name: "",
    ratio: 1.5,
    count: 7,
    on: false,
  });
  t.same(codec.decodeJson(json('{"name":"a","ratio":2,"count":null,"on":true}')), {
    name: "a",
    ratio: 2,
    count: 0,
    on: true,
  });
  t.throws(() => codec.decodeJson(json('{"count":1.5}')), /count: integer expected/);
  t.throws(() => codec.decodeJson(json("[1]")), /message: object expected/);
});

t.test("Check replies are encoded once and shared", async (t) => {
  const first = healthCodecs.checkResponse.encode({ status: ServingStatus.Serving }, "json");
  t.equal(healthCodecs.checkResponse.encodeJson({ status: ServingStatus.Serving }), first);
  t.equal(
    healthCodecs.checkResponse.encode({ status: ServingStatus.Serving }, "proto"),
    healthCodecs.checkResponse.encodeBinary({ status: 1 }),
  );
  // a value outside the enum still encodes, through the codec itself
  t.same(
    Buffer.from(healthCodecs.checkResponse.encodeBinary({ status: 7 as ServingStatus })),
    Buffer.from([8, 7]),
  );
  t.equal(text(healthCodecs.checkResponse.encodeJson({ status: 7 as ServingStatus })), '{"status":7}');
});

t.test("proto3 JSON as protojson reads it: both names, no unknown or repeated fields", async (t) => {
  // A .proto loaded as the server loads it (camelCase names) and one with keepCase: either way a field
  // may be written with its proto name or its JSON name, and the JSON name is what is written.
  const source = `syntax = "proto3";
    message Inner { string tag_name = 1; }
    message Outer {
      string service_name = 1;
      Inner inner = 2;
      repeated Inner items = 3;
      map<string, Inner> by_key = 4;
      int64 big_count = 5;
      oneof choice { string left = 6; int32 right = 7; }
      optional int32 maybe = 8;
      bytes blob = 9;
      bool flag = 10;
      double ratio = 11;
      int32 plain_json = 12 [json_name = "custom"];
    }`;
  for (const keepCase of [false, true]) {
    const root = protobuf.parse(source, { keepCase }).root;
    const codec = createMessageCodec<Record<string, unknown>>(root.lookupType("Outer"));
    const name = (proto: string, camel: string) => (keepCase ? proto : camel);
    const read = (body: string) => codec.decodeJson(json(body));
    t.match(read('{"service_name":"a"}'), { [name("service_name", "serviceName")]: "a" }, "proto name");
    t.match(read('{"serviceName":"a"}'), { [name("service_name", "serviceName")]: "a" }, "JSON name");
    t.match(read('{"custom":3}'), { [name("plain_json", "plainJson")]: 3 }, "json_name");
    t.match(
      read('{"inner":{"tag_name":"x"},"items":[{"tagName":"y"}],"byKey":{"k":{"tag_name":"z"}}}'),
      {
        inner: { [name("tag_name", "tagName")]: "x" },
        items: [{ [name("tag_name", "tagName")]: "y" }],
        [name("by_key", "byKey")]: { k: { [name("tag_name", "tagName")]: "z" } },
      },
      "nested messages, repeated and map values too",
    );
    const refuse = (body: string, reason: RegExp) =>
      t.throws(
        () => read(body),
        { code: Code.InvalidArgument, message: reason },
        `${body} (keepCase ${keepCase})`,
      );
    refuse('{"service_name":"a","serviceName":"b"}', /duplicate field "serviceName"/);
    refuse('{"serviceName":"a","serviceName":"a"}', /duplicate field "serviceName"/);
    refuse('{"serviceName":null,"service_name":"b"}', /duplicate field/);
    refuse('{"inner":{"tagName":"x","tag_name":"y"}}', /inner: duplicate field "tag_name"/);
    refuse('{"byKey":{"k":{},"k":{}}}', /duplicate field "k"/);
    refuse('{"inner":{"nope":1}}', /inner: unknown field "nope"/);
    refuse('{"items":[{"tagName":"x","what":1}]}', /items\[0\]: unknown field "what"/);
    refuse('{"left":"a","right":1}', /oneof choice is already set/);
    refuse('{"plain_json":1,"custom":2}', /duplicate field "custom"/);
    refuse('{"ServiceName":"a"}', /unknown field "ServiceName"/);
    t.match(read('{"left":null,"right":1}'), { right: 1 }, "a null oneof member is not set");
    t.match(
      read('{"service\\u005fname":"s"}'),
      { [name("service_name", "serviceName")]: "s" },
      "an escaped key",
    );
    refuse('{"service\\u005fname":"s","service_name":"t"}', /duplicate field "service_name"/);

    // Written: the zero values left out, presence fields kept.
    const encode = (message: Record<string, unknown>) => text(codec.encodeJson(message));
    t.equal(encode({}), "{}", "all defaults: an empty object");
    t.equal(
      encode({
        [name("big_count", "bigCount")]: 0,
        flag: false,
        ratio: 0,
        blob: new Uint8Array(0),
        items: [],
      }),
      "{}",
    );
    t.equal(encode({ right: 0 }), '{"right":0}', "a oneof member set to zero is written");
    t.equal(encode({ maybe: 0 }), '{"maybe":0}', "an optional field set to zero is written");
    t.same(
      JSON.parse(encode({ inner: {}, items: [{}], [name("by_key", "byKey")]: { k: {} } })),
      { inner: {}, items: [{}], [name("by_key", "byKey")]: { k: {} } },
      "a message field that is set is written, empty",
    );
    t.equal(
      encode({ [name("big_count", "bigCount")]: "12", ratio: -1.5, flag: true }),
      `{"${name("big_count", "bigCount")}":"12","flag":true,"ratio":-1.5}`,
    );
  }
});

t.test("duplicate keys are found however the key is written", async (t) => {
  const { duplicateJsonKey } = await import("../../src/codec/json-duplicate-keys.ts");
  t.equal(duplicateJsonKey('{"a":1,"b":2}'), undefined);
  t.equal(duplicateJsonKey('{"a":1,"a":2}'), "a");
  t.equal(duplicateJsonKey('{"a":1,"\\u0061":2}'), "a", "an escaped key is decoded");
  t.equal(duplicateJsonKey('{"a":{"a":1},"b":[{"a":1},{"a":2}]}'), undefined, "each object has its own keys");
  t.equal(duplicateJsonKey('{"a":"x:y","b":"a","c":["a","a"]}'), undefined, "strings that are values");
  t.equal(duplicateJsonKey('{"k\\"":1, "k\\"" :2}'), 'k"', "escaped quotes inside a key");
  t.equal(duplicateJsonKey('[{"x":1},{"y":{"z":1,"z":2}}]'), "z", "nested in arrays");
  t.equal(duplicateJsonKey('{"a":{},"a":{}}'), "a");
  t.equal(duplicateJsonKey('"text"'), undefined);
});
