import t, { type Test } from "tap";
import { Code } from "../../src/wire/code.ts";
import { ConfigError } from "../../src/wire/config-error.ts";
import {
  defaultMaxMessageBytes,
  EnvelopeDecoder,
  EnvelopeFlag,
  envelopeEagerBytes,
  envelopeHeaderBytes,
} from "../../src/wire/envelope.ts";
import { RpcError } from "../../src/wire/rpc-error.ts";
import { decodeChunks, hex, splits } from "./fixtures/decode.ts";

interface Fixture {
  name: string;
  hex: string;
  options?: { maxMessageBytes?: number; allowedFlags?: number };
  envelopes: { flags: number; payload: string }[];
  code?: Code;
}

const fixtures: Fixture[] = [
  { name: "empty message", hex: "00 00000000", envelopes: [{ flags: 0, payload: "" }] },
  {
    name: "HealthCheckResponse{status: SERVING}",
    hex: "00 00000002 0801",
    envelopes: [{ flags: 0, payload: "0801" }],
  },
  {
    name: "compressed message",
    hex: "01 00000003 abcdef",
    envelopes: [{ flags: EnvelopeFlag.Compressed, payload: "abcdef" }],
  },
  {
    name: "triple/Connect end-stream {}",
    hex: "02 00000002 7b7d",
    envelopes: [{ flags: EnvelopeFlag.EndStream, payload: "7b7d" }],
  },
  {
    name: "compressed end-stream",
    hex: "03 00000001 ff",
    envelopes: [{ flags: 0x03, payload: "ff" }],
  },
  {
    name: "gRPC-Web trailers",
    hex: "80 00000010" + Buffer.from("grpc-status: 0\r\n").toString("hex"),
    envelopes: [{ flags: EnvelopeFlag.Trailers, payload: Buffer.from("grpc-status: 0\r\n").toString("hex") }],
  },
  {
    name: "message, message, gRPC-Web trailers",
    hex: "00 00000002 0801 00 00000000 80 00000003 616263",
    envelopes: [
      { flags: 0, payload: "0801" },
      { flags: 0, payload: "" },
      { flags: 0x80, payload: "616263" },
    ],
  },
  {
    name: "message at exactly the limit",
    hex: "00 00000004 01020304",
    options: { maxMessageBytes: 4 },
    envelopes: [{ flags: 0, payload: "01020304" }],
  },
  {
    name: "message one byte over the limit",
    hex: "00 00000005 0102030405",
    options: { maxMessageBytes: 4 },
    envelopes: [],
    code: Code.ResourceExhausted,
  },
  {
    name: "length above the default 4 MiB limit",
    hex: "00 00400001 00",
    envelopes: [],
    code: Code.ResourceExhausted,
  },
  { name: "length 0xffffffff", hex: "00 ffffffff", envelopes: [], code: Code.ResourceExhausted },
  {
    name: "error after a good message",
    hex: "00 00000001 aa 00 ffffffff",
    envelopes: [{ flags: 0, payload: "aa" }],
    code: Code.ResourceExhausted,
  },
  { name: "unknown flag 0x04", hex: "04 00000000", envelopes: [], code: Code.Internal },
  { name: "unknown flag 0x40", hex: "40 00000001 00", envelopes: [], code: Code.Internal },
  { name: "all flag bits", hex: "ff 00000000", envelopes: [], code: Code.Internal },
  {
    name: "gRPC only allows the compressed flag",
    hex: "02 00000000",
    options: { allowedFlags: EnvelopeFlag.Compressed },
    envelopes: [],
    code: Code.Internal,
  },
  {
    name: "flags are checked before the length",
    hex: "08 ffffffff",
    envelopes: [],
    code: Code.Internal,
  },
  { name: "truncated header", hex: "00 0000", envelopes: [], code: Code.Internal },
  { name: "truncated payload", hex: "00 00000003 0102", envelopes: [], code: Code.Internal },
  {
    name: "truncated second message",
    hex: "00 00000001 aa 00 00000002 bb",
    envelopes: [{ flags: 0, payload: "aa" }],
    code: Code.Internal,
  },
];

for (const fixture of fixtures) {
  t.test(fixture.name, async (t) => {
    const input = hex(fixture.hex);
    for (const { name, chunks } of splits(input)) {
      const result = decodeChunks(chunks, fixture.options);
      t.same(result.envelopes, fixture.envelopes, `${name}: envelopes`);
      if (fixture.code === undefined) {
        t.equal(result.error, undefined, `${name}: no error`);
      } else {
        t.type(result.error, RpcError, `${name}: RpcError`);
        t.equal((result.error as RpcError).code, fixture.code, `${name}: code`);
      }
    }
  });
}

t.test("empty input ends cleanly", async (t) => {
  t.same(decodeChunks([]), { envelopes: [] });
  t.same(decodeChunks([Buffer.alloc(0), new Uint8Array(0)]), { envelopes: [] });
});

t.test("a message within one chunk is a view; one across chunks is one copy", async (t) => {
  const input = hex("00 00000003 010203 00 00000002 0405");
  const decoder = new EnvelopeDecoder();
  decoder.push(input);
  const first = decoder.next()!;
  t.equal(first.payload.buffer, input.buffer, "same memory");
  t.equal(first.payload.byteOffset, input.byteOffset + 5);
  const second = decoder.next()!;
  t.equal(second.payload.byteOffset, input.byteOffset + 13);
  t.equal(decoder.next(), undefined);

  const spanning = new EnvelopeDecoder();
  spanning.push(input.subarray(0, 6));
  t.equal(spanning.next(), undefined);
  spanning.push(input.subarray(6, 8));
  const copied = spanning.next()!;
  t.equal(copied.payload.toString("hex"), "010203");
  t.not(copied.payload.buffer === input.buffer && copied.payload.byteOffset === input.byteOffset + 5, true);
  input[6] = 0xee;
  t.equal(copied.payload.toString("hex"), "010203", "a copy, unaffected by the source");
});

t.test("accepts plain Uint8Array chunks (views on a larger ArrayBuffer)", async (t) => {
  const backing = new Uint8Array([9, 9, 0, 0, 0, 0, 1, 42, 9]);
  const decoder = new EnvelopeDecoder();
  decoder.push(backing.subarray(2, 8));
  const envelope = decoder.next()!;
  t.ok(Buffer.isBuffer(envelope.payload));
  t.same([...envelope.payload], [42]);
  t.equal(envelope.payload.buffer, backing.buffer);
});

t.test("bufferedBytes counts header and payload bytes not yet returned", async (t) => {
  const decoder = new EnvelopeDecoder();
  t.equal(decoder.bufferedBytes, 0);
  decoder.push(hex("00 0000"));
  t.equal(decoder.bufferedBytes, 3);
  decoder.push(hex("0003 01"));
  t.equal(decoder.next(), undefined);
  t.equal(decoder.bufferedBytes, 6);
  decoder.push(hex("0203 00"));
  t.equal(decoder.next()!.payload.toString("hex"), "010203");
  t.equal(decoder.bufferedBytes, 1);
  t.throws(() => decoder.end(), { code: Code.Internal, message: /1 of 5 header bytes/ });
});

t.test("end() names what was missing", async (t) => {
  const decoder = new EnvelopeDecoder();
  decoder.push(hex("00 00000004 01"));
  t.equal(decoder.next(), undefined);
  t.throws(() => decoder.end(), { code: Code.Internal, message: /1 of 4 payload bytes/ });
});

// Records the sizes Buffer.allocUnsafe is asked for until the test ends.
function spyOnAllocUnsafe(t: Test): number[] {
  const sizes: number[] = [];
  const original = Buffer.allocUnsafe;
  Buffer.allocUnsafe = (n: number) => {
    sizes.push(n);
    return original(n);
  };
  t.teardown(() => {
    Buffer.allocUnsafe = original;
  });
  return sizes;
}

function headerFor(length: number): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(length, 1);
  return header;
}

t.test("nothing is allocated for a message before its bytes arrive", async (t) => {
  const size = 1024 * 1024;
  const sizes = spyOnAllocUnsafe(t);
  const decoder = new EnvelopeDecoder();
  decoder.push(headerFor(size));
  const half = Buffer.alloc(size / 2, 7);
  decoder.push(half);
  t.equal(decoder.next(), undefined);
  t.equal(decoder.next(), undefined);
  t.ok(
    sizes.every((n) => n < size),
    "no payload-sized allocation yet",
  );
  decoder.push(Buffer.alloc(size / 2, 8));
  const envelope = decoder.next()!;
  t.equal(envelope.payload.length, size);
  t.equal(envelope.payload[0], 7);
  t.equal(envelope.payload[size - 1], 8);
  t.equal(sizes.filter((n) => n === size).length, 1, "one copy of exactly the message size");
  t.equal(decoder.bufferedBytes, 0);
});

t.test("a small message arriving in pieces gets its buffer with its first payload bytes", async (t) => {
  const size = envelopeEagerBytes;
  const sizes = spyOnAllocUnsafe(t);
  const payload = Buffer.alloc(size);
  for (let i = 0; i < size; i++) payload[i] = i & 0xff;
  const decoder = new EnvelopeDecoder();
  decoder.push(headerFor(size));
  t.equal(decoder.next(), undefined);
  t.same(sizes, [], "nothing before a payload byte");
  decoder.push(payload.subarray(0, 1));
  t.equal(decoder.next(), undefined);
  t.same(sizes, [size], "the payload's buffer, once its first byte is here");
  for (let at = 1; at < size; at += 1000) {
    decoder.push(payload.subarray(at, Math.min(size, at + 1000)));
    t.equal(decoder.bufferedBytes, 5 + Math.min(size, at + 1000));
  }
  // The last piece also carries the next envelope, which stays queued.
  decoder.push(hex("00 00000001 07"));
  const envelope = decoder.next()!;
  t.ok(envelope.payload.equals(payload));
  t.same(sizes, [size], "filled in place, no second copy");
  t.equal(decoder.next()!.payload.toString("hex"), "07");
  t.equal(decoder.bufferedBytes, 0);
});

t.test("a message above envelopeEagerBytes is allocated only when all its bytes are here", async (t) => {
  const size = envelopeEagerBytes + 1;
  const sizes = spyOnAllocUnsafe(t);
  const decoder = new EnvelopeDecoder();
  decoder.push(headerFor(size));
  decoder.push(Buffer.alloc(1, 1));
  t.equal(decoder.next(), undefined);
  decoder.push(Buffer.alloc(size - 2, 2));
  t.equal(decoder.next(), undefined);
  t.same(sizes, []);
  decoder.push(Buffer.alloc(1, 3));
  const envelope = decoder.next()!;
  t.same(sizes, [size]);
  t.same([envelope.payload[0], envelope.payload[1], envelope.payload[size - 1]], [1, 2, 3]);
});

t.test("a payload that arrives whole after a split header is still a view", async (t) => {
  const decoder = new EnvelopeDecoder();
  decoder.push(hex("00 00"));
  decoder.push(hex("00 00 03"));
  t.equal(decoder.next(), undefined);
  const body = hex("0a0b0c");
  decoder.push(body);
  const envelope = decoder.next()!;
  t.equal(envelope.payload.buffer, body.buffer);
  t.equal(envelope.payload.byteOffset, body.byteOffset);
});

t.test("bytes held in the header state and the payload being filled are counted and reported", async (t) => {
  const decoder = new EnvelopeDecoder();
  decoder.push(hex("00 00"));
  t.equal(decoder.bufferedBytes, 2);
  decoder.push(hex("00"));
  decoder.push(hex("00 04"));
  t.equal(decoder.next(), undefined);
  t.equal(decoder.bufferedBytes, 5);
  decoder.push(hex("01"));
  t.equal(decoder.next(), undefined);
  decoder.push(hex("02"));
  t.equal(decoder.bufferedBytes, 7);
  t.throws(() => decoder.end(), { code: Code.Internal, message: /2 of 4 payload bytes/ });

  const header = new EnvelopeDecoder();
  header.push(hex("00"));
  header.push(hex("00 00"));
  t.equal(header.next(), undefined);
  t.throws(() => header.end(), { code: Code.Internal, message: /3 of 5 header bytes/ });
});

t.test("plain Uint8Array pieces fill the header and payload and come back as a Buffer", async (t) => {
  const wire = new Uint8Array([0, 0, 0, 0, 3, 1, 2, 3, 0, 0, 0, 0, 1, 9]);
  const decoder = new EnvelopeDecoder();
  const out: Buffer[] = [];
  // 1, 1, 1, 1, 2, then the rest: the header in pieces, the payload filled, then a piece that
  // completes it and carries the next envelope.
  for (const [from, to] of [
    [0, 1],
    [1, 2],
    [2, 3],
    [3, 4],
    [4, 6],
    [6, 14],
  ] as const) {
    decoder.push(wire.subarray(from, to));
    for (let e = decoder.next(); e !== undefined; e = decoder.next()) out.push(e.payload);
  }
  decoder.end();
  t.same(
    out.map((p) => [Buffer.isBuffer(p), p.toString("hex")]),
    [
      [true, "010203"],
      [true, "09"],
    ],
  );
});

t.test("the length is checked on the header, before the payload arrives", async (t) => {
  const decoder = new EnvelopeDecoder({ maxMessageBytes: 10 });
  decoder.push(hex("00 0000000b"));
  t.throws(() => decoder.next(), {
    code: Code.ResourceExhausted,
    message: /11 bytes exceeds the limit of 10 bytes/,
  });
});

t.test("errors are sticky and drop the buffered bytes", async (t) => {
  const decoder = new EnvelopeDecoder();
  decoder.push(hex("20 00000000 00 00000000"));
  const error = t.throws(() => decoder.next(), {
    code: Code.Internal,
    message: /invalid envelope flags 0x20/,
  });
  t.equal(decoder.bufferedBytes, 0);
  decoder.push(hex("00 00000000"));
  let again: unknown;
  try {
    decoder.next();
  } catch (e) {
    again = e;
  }
  t.equal(again, error, "next() rethrows the same error");
  t.throws(() => decoder.end(), error as Error);
});

t.test("options", async (t) => {
  t.equal(new EnvelopeDecoder().maxMessageBytes, defaultMaxMessageBytes);
  t.equal(defaultMaxMessageBytes, 4 * 1024 * 1024);
  t.equal(envelopeHeaderBytes, 5);
  t.equal(new EnvelopeDecoder({ maxMessageBytes: 0 }).maxMessageBytes, 0);
  t.throws(() => new EnvelopeDecoder({ maxMessageBytes: -1 }), ConfigError);
  t.throws(() => new EnvelopeDecoder({ maxMessageBytes: 1.5 }), ConfigError);
  t.same(EnvelopeFlag, { Compressed: 1, EndStream: 2, Trailers: 0x80 });
  const grpcWeb = decodeChunks([hex("80 00000000 01 00000000")], {
    allowedFlags: EnvelopeFlag.Compressed | EnvelopeFlag.Trailers,
  });
  t.same(grpcWeb.envelopes, [
    { flags: 0x80, payload: "" },
    { flags: 0x01, payload: "" },
  ]);
});

t.test("a queue that never drains stays correct (chunks straddling every boundary)", async (t) => {
  // 7-byte envelopes in 3-byte chunks: after every push a partial envelope stays queued.
  const envelopes: Buffer[] = [];
  for (let i = 0; i < 2000; i++)
    envelopes.push(hex(`00 00000002 ${(i & 0xff).toString(16).padStart(2, "0")}ff`));
  const wire = Buffer.concat(envelopes);
  const decoder = new EnvelopeDecoder();
  let count = 0;
  let wrong = 0;
  for (let at = 0; at < wire.length; at += 3) {
    decoder.push(wire.subarray(at, at + 3));
    for (let e = decoder.next(); e !== undefined; e = decoder.next()) {
      if (e.payload[0] !== (count & 0xff) || e.payload[1] !== 0xff) wrong++;
      count++;
    }
    if (decoder.bufferedBytes > 10) wrong++;
  }
  decoder.end();
  t.equal(count, 2000);
  t.equal(wrong, 0);

  // A message spread over many more chunks than the queue's usual size, while the next is queued.
  const big = Buffer.alloc(5000, 3);
  const stream = Buffer.concat([hex("00 00001388"), big, hex("00 00000001 07")]);
  const slow = new EnvelopeDecoder();
  const out: number[] = [];
  for (let at = 0; at < stream.length; at++) {
    slow.push(stream.subarray(at, at + 1));
    for (let e = slow.next(); e !== undefined; e = slow.next()) out.push(e.payload.length);
  }
  slow.end();
  t.same(out, [5000, 1]);
});
