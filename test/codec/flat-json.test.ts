import { isDeepStrictEqual } from "node:util";
import protobuf from "protobufjs";
import t from "tap";
import { flatJsonReader } from "../../src/codec/flat-json.ts";
import { healthCodecs } from "../../src/codec/health-codecs.ts";
import { readFlatJson } from "../../src/codec/json-shape.ts";
import { createMessageCodec } from "../../src/codec/message-codec.ts";

// A flat type with one field of every kind the reader knows.
const mood = new protobuf.Enum("Mood", { CALM: 0, GLAD: 1, CROSS: 5 });
const type = new protobuf.Type("Flat")
  .add(new protobuf.Field("name", 1, "string"))
  .add(new protobuf.Field("ratio", 2, "double"))
  .add(new protobuf.Field("count", 3, "int32"))
  .add(new protobuf.Field("on", 4, "bool"))
  .add(new protobuf.Field("mood", 5, "Mood"));
new protobuf.Root().add(mood).add(type);
const read = flatJsonReader(type);
const bytes = (text: string) => Buffer.from(text, "utf8");

t.test("the usual bodies are read from the bytes", async (t) => {
  t.same(read(bytes('{"name":"greet.GreetService"}')), {
    name: "greet.GreetService",
    ratio: 0,
    count: 0,
    on: false,
    mood: 0,
  });
  t.same(read(bytes(' {\n\t"count" : -12 , "on":true,"ratio":2.5e-3,"mood":"CROSS","name":null }\r\n')), {
    name: "",
    ratio: 0.0025,
    count: -12,
    on: true,
    mood: 5,
  });
  t.same(
    read(bytes('{"mood":1,"on":false,"unknown":"x","other":[],"more":3}')),
    undefined,
    "arrays are not read",
  );
  t.same(
    read(bytes('{"mood":1,"on":false,"unknown":"x"}')),
    undefined,
    "an unknown field is the full decoder's to refuse",
  );
  t.same(read(bytes("{}")), { name: "", ratio: 0, count: 0, on: false, mood: 0 });
  // JSON.parse would keep the last; proto3 JSON readers refuse a field given twice: the full decoder words it.
  t.equal(read(bytes('{"name":"a","name":"b"}')), undefined, "a field twice");
  t.equal(read(bytes('{"name":null,"name":"b"}')), undefined, "a field twice, the first null");
  t.equal(read(bytes('{"on":true,"mood":1,"on":true}')), undefined);
  const long = "x".repeat(100);
  t.equal(read(bytes(`{"name":"${long}"}`))?.name, long, "long strings too");
});

t.test("what it does not read is left to the full decoder", async (t) => {
  const left = [
    "",
    " ",
    "[]",
    "null",
    '{"name":"a\\"b"}',
    '{"name":"é"}',
    '{"name":"a\u0001"}',
    '{"name":{"x":1}}',
    '{"name":1}',
    '{"name":true}',
    '{"count":1.5}',
    '{"count":"7"}',
    '{"count":01}',
    '{"count":-}',
    '{"count":1.}',
    '{"count":1e}',
    '{"ratio":"NaN"}',
    '{"on":"yes"}',
    '{"on":1}',
    '{"mood":"SAD"}',
    '{"mood":"toString"}',
    '{"mood":1.5}',
    '{"mood":true}',
    '{"name":"a"',
    '{"name":"a"}x',
    '{"name" "a"}',
    '{"name":"a",}',
    '{"name":"a";"on":true}',
    '{"name":nul}',
    '{"name":tru}',
    '{name:"a"}',
    '{"name":"unterminated',
    '{"name',
    "\ufeff{}",
  ];
  for (const text of left) t.equal(read(bytes(text)), undefined, JSON.stringify(text));
});

// Random bodies built from pieces, some valid, some not: whatever the reader takes must be exactly
// what JSON.parse + readFlatJson make of it.
t.test("it agrees with JSON.parse and readFlatJson on random bodies", async (t) => {
  let seed = 0x5eed;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const pick = <T>(items: readonly T[]): T => items[random(items.length)]!;
  const keys = ['"name"', '"ratio"', '"count"', '"on"', '"mood"', '"other"', '"na\\u006de"', '"ñ"', "name"];
  const values = [
    '"x"',
    '"greet.GreetService"',
    '""',
    '"GLAD"',
    '"CROSS"',
    '"a\\nb"',
    "0",
    "7",
    "-3",
    "1.25",
    "2e3",
    "-0",
    "true",
    "false",
    "null",
    "{}",
    "[1]",
    "01",
    "tru",
  ];
  const spaces = ["", " ", "\n", "\t ", "\r\n"];
  let taken = 0;
  const disagreements: string[] = [];
  for (let i = 0; i < 20_000; i++) {
    const members: string[] = [];
    for (let n = random(4); n > 0; n--) {
      members.push(
        `${pick(spaces)}${pick(keys)}${pick(spaces)}:${pick(spaces)}${pick(values)}${pick(spaces)}`,
      );
    }
    const text = `${pick(spaces)}{${members.join(random(20) === 0 ? ";" : ",")}${random(30) === 0 ? "," : ""}}${pick(spaces)}`;
    const quick = read(bytes(text));
    if (quick === undefined) continue;
    taken++;
    let expected: unknown;
    try {
      expected = readFlatJson(type, JSON.parse(text));
    } catch {
      expected = "not JSON";
    }
    if (typeof expected === "string")
      disagreements.push(`read ${text}, which the full decoder refuses (${expected})`);
    else if (!isDeepStrictEqual(quick, expected)) disagreements.push(`${text}: ${JSON.stringify(quick)}`);
  }
  t.same(disagreements, [], "no body is read differently");
  t.ok(taken > 1000, `the reader took ${taken} of 20,000 bodies`);
});

t.test("a field by its proto name or its JSON name, once", async (t) => {
  const snake = protobuf
    .parse('syntax = "proto3"; message Snake { string service_name = 1; int32 x = 2 [json_name = "why"]; }', {
      keepCase: true,
    })
    .root.lookupType("Snake");
  const readSnake = flatJsonReader(snake);
  t.same(readSnake(bytes('{"service_name":"a"}')), { service_name: "a", x: 0 });
  t.same(readSnake(bytes('{"serviceName":"a","why":2}')), { service_name: "a", x: 2 });
  t.same(readSnake(bytes('{"x":3}')), { service_name: "", x: 3 });
  t.equal(readSnake(bytes('{"service_name":"a","serviceName":"b"}')), undefined, "two names, one field");
  t.equal(readSnake(bytes('{"servicename":"a"}')), undefined);
  const codec = createMessageCodec(snake);
  t.throws(() => codec.decodeJson(bytes('{"service_name":"a","serviceName":"b"}')), {
    message: /duplicate field "serviceName"/,
  });
  t.throws(() => codec.decodeJson(bytes('{"why":1,"x":2}')), { message: /duplicate field "x"/ });
  t.same(readFlatJson(snake, { serviceName: "a" }), { service_name: "a", x: 0 });
  t.equal(readFlatJson(snake, { other: 1 }), 'unknown field "other"');
});

t.test("codecs use it for flat types and fall back for the rest", async (t) => {
  const codec = createMessageCodec(type);
  t.same(codec.decodeJson(bytes('{"name":"a\\u0062"}')).name, "ab", "an escape goes through JSON.parse");
  t.throws(() => codec.decodeJson(bytes('{"name":1}')), /name: string expected/);
  t.same(healthCodecs.checkRequest.decodeJson(bytes('{"service":"bench"}')), { service: "bench" });
  t.throws(() => codec.decodeJson(bytes('{"name":"a","name":"b"}')), /duplicate field "name"/);
  t.throws(() => codec.decodeJson(bytes('{"name":"a","nope":1}')), /unknown field "nope"/);
  t.throws(() => codec.decodeJson(bytes('{"name":"\\u0061","name":"b"}')), /duplicate field "name"/);
});
