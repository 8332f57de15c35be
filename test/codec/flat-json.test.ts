import { isDeepStrictEqual } from "node:util";
import protobuf from "protobufjs";
import t from "tap";
import { flatJsonReader } from "../../src/codec/flat-json.ts";
import { healthCodecs } from "../../src/codec/health-types.ts";
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
  t.same(read(bytes('{"mood":1,"on":false,"unknown":"x","more":-0.5e+2,"flag":true,"none":null}')), {
    name: "",
    ratio: 0,
    count: 0,
    on: false,
    mood: 1,
  });
  t.same(read(bytes("{}")), { name: "", ratio: 0, count: 0, on: false, mood: 0 });
  t.same(
    read(bytes('{"name":"a","name":"b"}')),
    { name: "b", ratio: 0, count: 0, on: false, mood: 0 },
    "last wins",
  );
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

t.test("codecs use it for flat types and fall back for the rest", async (t) => {
  const codec = createMessageCodec(type);
  t.same(codec.decodeJson(bytes('{"name":"a\\u0062"}')).name, "ab", "an escape goes through JSON.parse");
  t.throws(() => codec.decodeJson(bytes('{"name":1}')), /name: string expected/);
  t.same(healthCodecs.checkRequest.decodeJson(bytes('{"service":"bench"}')), { service: "bench" });
});
