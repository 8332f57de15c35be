// The hand-written HealthCheckRequest/Response codec against protobufjs's (health-codecs.ts, from
// proto/health.proto): the same bytes and JSON out, the same messages read back, the same refusals.
import t from "tap";
import { checkRequestCodec, checkResponseCodec } from "../../src/codec/health-check-codec.ts";
import { healthCodecs } from "../../src/codec/health-codecs.ts";
import type { MessageCodec } from "../../src/codec/message-codec.ts";
import { Code } from "../../src/wire/code.ts";
import { RpcError } from "../../src/wire/rpc-error.ts";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8");

type Outcome = { value: Record<string, unknown> } | { code: Code };
function outcome(read: () => object): Outcome {
  try {
    // protobufjs hands back a Message whose unset fields live on its prototype: compare own copies.
    const message = read() as Record<string, unknown>;
    const value: Record<string, unknown> = {};
    for (const key of ["service", "status"]) if (message[key] !== undefined) value[key] = message[key];
    return { value };
  } catch (error) {
    if (!(error instanceof RpcError)) throw error;
    return { code: error.code };
  }
}

const services = ["", "a", "greet.GreetService", "é ünï 🙂", "x".repeat(200), "a\u0000b", '"quoted"\\'];
const statuses = [0, 1, 2, 3, 7, 127, 128, 300, 2 ** 31 - 1, -1, -128, -(2 ** 31)];

t.test("request: the same binary and JSON as protobufjs, read back alike", async (t) => {
  for (const service of services) {
    const message = { service };
    const ours = checkRequestCodec.encodeBinary(message);
    t.equal(
      hex(ours),
      hex(healthCodecs.checkRequest.encodeBinary(message)),
      `binary of ${service.slice(0, 20)}`,
    );
    t.equal(text(checkRequestCodec.encodeJson(message)), text(healthCodecs.checkRequest.encodeJson(message)));
    t.equal(hex(checkRequestCodec.encode(message, "proto")), hex(ours));
    t.same(checkRequestCodec.decodeBinary(ours), message);
    t.same(checkRequestCodec.decode(checkRequestCodec.encode(message, "json"), "json"), message);
  }
  t.equal(checkRequestCodec.typeName, healthCodecs.checkRequest.typeName);
  t.equal(hex(checkRequestCodec.encodeBinary({} as { service: string })), "", "absent is the default");
});

t.test("response: the same binary and JSON as protobufjs, read back alike", async (t) => {
  for (const status of statuses) {
    const message = { status };
    const ours = checkResponseCodec.encodeBinary(message);
    t.equal(hex(ours), hex(healthCodecs.checkResponse.encodeBinary(message)), `binary of ${status}`);
    t.equal(
      text(checkResponseCodec.encodeJson(message)),
      text(healthCodecs.checkResponse.encodeJson(message)),
    );
    t.same(checkResponseCodec.decodeBinary(ours), message);
    t.same(healthCodecs.checkResponse.decodeBinary(ours).status, status, "protobufjs reads ours");
    t.same(checkResponseCodec.decode(checkResponseCodec.encode(message, "json"), "json"), message);
  }
  t.equal(checkResponseCodec.typeName, healthCodecs.checkResponse.typeName);
  t.equal(text(checkResponseCodec.encodeJson({ status: 1 })), '{"status":"SERVING"}');
});

const binaryInputs = [
  "",
  "0801",
  "0803",
  "08ffffffffffffffffff01", // -1 as a 10-byte varint
  "08ffffffff0f", // 2^32 - 1 as 5 bytes: -1 as an int32
  "0880808080808080808001", // 10 bytes, low 32 bits zero
  "08010802", // the last one wins
  "0a0161",
  "0a00",
  "0a01610a0162",
  "0a0161 0801",
  "1001", // unknown varint field
  "1a03616263", // unknown length-delimited field
  "1101020304050607080801", // unknown fixed64, then status
  "150102030408 02", // unknown fixed32, then status
  "1b 0801 1c 0802", // a group (field 3) holding a field 1, then status
  "0d01000000", // field 1 with the wrong wire type (fixed32)
  "0a01", // truncated length
  "08", // truncated varint
  "0a03ffff61", // not UTF-8
  "0e", // wire type 6
  "0f", // wire type 7
  "1b0801", // a group never ended
  "0801 00", // field number 0
  "0801 8d a3 a0 8a 71 08", // a tag above 32 bits
  "0a 80 80 80 80 08", // a length of 2^31
  "0a 80 80 80 80 80 01", // a 6-byte length
];

t.test("reading bytes: what protobufjs reads, or a refusal where it refuses", async (t) => {
  for (const input of binaryInputs) {
    const bytes = Buffer.from(input.replaceAll(" ", ""), "hex");
    t.same(
      outcome(() => checkRequestCodec.decodeBinary(bytes)),
      outcome(() => healthCodecs.checkRequest.decodeBinary(bytes)),
      `request ${input}`,
    );
    t.same(
      outcome(() => checkResponseCodec.decodeBinary(bytes)),
      outcome(() => healthCodecs.checkResponse.decodeBinary(bytes)),
      `response ${input}`,
    );
  }
});

t.test("reading random bytes: the same as protobufjs", async (t) => {
  // A fixed-seed generator: the same inputs every run.
  let seed = 0x2545f491;
  const next = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  let differing = 0;
  for (let i = 0; i < 3000; i++) {
    const bytes = Buffer.alloc(next() % 12);
    for (let j = 0; j < bytes.length; j++) {
      // Mostly bytes that make valid tags and short lengths, so that many inputs read through.
      const r = next();
      bytes[j] = r % 3 === 0 ? [0x08, 0x0a, 0x10, 0x12, 0x0d, 0x09][r % 6]! : r % 256;
    }
    for (const [ours, theirs] of [
      [checkRequestCodec, healthCodecs.checkRequest],
      [checkResponseCodec, healthCodecs.checkResponse],
    ] as [MessageCodec<object>, MessageCodec<object>][]) {
      const a = outcome(() => ours.decodeBinary(bytes));
      const b = outcome(() => theirs.decodeBinary(bytes));
      if (JSON.stringify(a) !== JSON.stringify(b)) {
        differing++;
        t.same(a, b, `${ours.typeName} ${hex(bytes)}`);
      }
    }
  }
  t.equal(differing, 0, "no input read differently");
});

const jsonRequests = [
  "",
  "{}",
  '{"service":"x"}',
  ' {"service" : "greet.GreetService"} ',
  '{"service":null}',
  '{"service":"\\u00e9"}',
  '{"service":5}',
  '{"service":["a"]}',
  '{"service":"a","service":"b"}',
  '{"status":1}',
  '{"service":"x",}',
  '{"service":"x"} x',
  "\ufeff{}",
  '"x"',
  "null",
  "[]",
  '{"__proto__":{}}',
];
const jsonResponses = [
  "",
  "{}",
  '{"status":"SERVING"}',
  '{"status":"NOT_SERVING"}',
  '{"status":2}',
  '{"status":7}',
  '{"status":-1}',
  '{"status":1e0}',
  '{"status":1.5}',
  '{"status":"serving"}',
  '{"status":null}',
  '{"status":true}',
  '{"service":"x"}',
  '{"status":"SERVING","status":"UNKNOWN"}',
  "[]",
];

t.test("reading JSON: what protobufjs's codec reads, refusing what it refuses, in its words", async (t) => {
  const compare = (ours: MessageCodec<object>, theirs: MessageCodec<object>, input: string) => {
    const bytes = Buffer.from(input);
    let expected: unknown;
    let actual: unknown;
    try {
      expected = theirs.decodeJson(bytes);
    } catch (error) {
      expected = { code: (error as RpcError).code, message: (error as RpcError).message };
    }
    try {
      actual = ours.decodeJson(bytes);
    } catch (error) {
      actual = { code: (error as RpcError).code, message: (error as RpcError).message };
    }
    t.same(actual, expected, `${ours.typeName} ${JSON.stringify(input)}`);
  };
  for (const input of jsonRequests) compare(checkRequestCodec, healthCodecs.checkRequest, input);
  for (const input of jsonResponses) compare(checkResponseCodec, healthCodecs.checkResponse, input);
});

t.test("an enum given as a quoted number is refused (protobufjs's codec takes it as a name)", async (t) => {
  t.throws(() => checkResponseCodec.decodeJson(Buffer.from('{"status":"1"}')), {
    code: Code.InvalidArgument,
    message: /status: enum value expected/,
  });
});

t.test("refusals are INVALID_ARGUMENT naming the type and the fault", async (t) => {
  t.throws(() => checkResponseCodec.decode(Buffer.from("08", "hex"), "proto"), {
    code: Code.InvalidArgument,
    message: /cannot decode grpc\.health\.v1\.HealthCheckResponse: truncated varint/,
  });
  t.throws(() => checkRequestCodec.decodeBinary(Buffer.from("0a05ab", "hex")), {
    message: /HealthCheckRequest: truncated field/,
  });
  t.throws(() => checkRequestCodec.decodeBinary(Buffer.from("0e", "hex")), {
    message: /invalid wire type 6/,
  });
  t.throws(() => checkRequestCodec.decodeBinary(Buffer.from("1b0801", "hex")), {
    message: /group without its end/,
  });
  t.throws(() => checkRequestCodec.decodeBinary(Buffer.from("1b0801240802", "hex")), {
    message: /invalid end group tag/,
  });
  t.throws(() => checkRequestCodec.decodeBinary(Buffer.from("0801 00".replace(" ", ""), "hex")), {
    message: /field number 0/,
  });
  // A varint is at most 10 bytes, as protobuf-go reads it; protobufjs refuses a longer one in field 1 too,
  // but skips one in an unknown field: that is the one input the two codecs read differently.
  t.throws(() => checkResponseCodec.decodeBinary(Buffer.from("08ffffffffffffffffffff01", "hex")), {
    message: /varint longer than 10 bytes/,
  });
  t.throws(() => checkRequestCodec.decodeBinary(Buffer.from("10ffffffffffffffffffff01", "hex")), {
    message: /varint longer than 10 bytes/,
  });
});
