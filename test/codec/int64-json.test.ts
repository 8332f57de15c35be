// proto3 JSON carries 64-bit integers as decimal strings: a JSON body decodes to those strings (not protobufjs
// Long objects, which JSON.stringify would write as {"low":…,"high":…}), and they encode back unchanged.
import protobuf from "protobufjs";
import t from "tap";
import { createMessageCodec } from "../../src/codec/message-codec.ts";

const root = protobuf.parse(`
  syntax = "proto3";
  package longs;
  message Counters { int64 signed = 1; uint64 unsigned = 2; sint64 zigzag = 3; fixed64 fixed = 4; string name = 5; }
  message Batch { Counters first = 1; repeated int64 ids = 2; map<string, uint64> totals = 3; }
`).root;
const counters = createMessageCodec(root.lookupType("longs.Counters"));
const batch = createMessageCodec(root.lookupType("longs.Batch"));
const json = (value: string) => Buffer.from(value);
const text = (bytes: Uint8Array) => Buffer.from(bytes).toString();

t.test("64-bit fields decode from JSON as decimal strings, beyond 2^53 exactly", async (t) => {
  const body =
    '{"signed":"-9007199254740993","unsigned":"18446744073709551615","zigzag":"-3","fixed":7,"name":"a"}';
  const decoded = counters.decodeJson(json(body));
  t.strictSame(decoded, {
    signed: "-9007199254740993",
    unsigned: "18446744073709551615",
    zigzag: "-3",
    fixed: "7",
    name: "a",
  });
  t.equal(
    JSON.stringify(decoded),
    '{"signed":"-9007199254740993","unsigned":"18446744073709551615","zigzag":"-3","fixed":"7","name":"a"}',
    "what JSON.stringify writes is proto3 JSON again",
  );
  t.equal(
    text(counters.encodeJson(decoded)),
    '{"signed":"-9007199254740993","unsigned":"18446744073709551615","zigzag":"-3","fixed":"7","name":"a"}',
  );
  t.strictSame(counters.decodeJson(json("{}")), {
    signed: "0",
    unsigned: "0",
    zigzag: "0",
    fixed: "0",
    name: "",
  });
});

t.test("nested, repeated and map 64-bit values are strings too", async (t) => {
  const decoded = batch.decodeJson(json('{"first":{"signed":"5"},"ids":["1","-2"],"totals":{"x":"42"}}'));
  t.strictSame(decoded, {
    first: { signed: "5", unsigned: "0", zigzag: "0", fixed: "0", name: "" },
    ids: ["1", "-2"],
    totals: { x: "42" },
  });
  t.equal(
    JSON.stringify(decoded),
    '{"ids":["1","-2"],"totals":{"x":"42"},"first":{"signed":"5","unsigned":"0","zigzag":"0","fixed":"0","name":""}}',
  );
});

t.test("the same values survive a binary round trip from the decoded JSON", async (t) => {
  const decoded = counters.decodeJson(
    json('{"signed":"-9007199254740993","unsigned":"18446744073709551615"}'),
  );
  const again = counters.decodeBinary(counters.encodeBinary(decoded));
  t.equal(String(again["signed"]), "-9007199254740993");
  t.equal(String(again["unsigned"]), "18446744073709551615");
  t.equal(text(counters.encodeJson(again)), text(counters.encodeJson(decoded)), "binary and JSON agree");
});
