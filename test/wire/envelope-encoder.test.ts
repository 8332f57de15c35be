import { MessageChannel } from "node:worker_threads";
import t from "tap";
import { Code } from "../../src/wire/code.ts";
import { EnvelopeDecoder, EnvelopeFlag } from "../../src/wire/envelope.ts";
import {
  encodeEnvelope,
  encodeEnvelopeHeader,
  encodeEnvelopes,
  envelopeChunks,
  envelopeCopyThreshold,
} from "../../src/wire/envelope-encoder.ts";
import { decodeChunks, hex, prng } from "./fixtures/decode.ts";

t.test("hex fixtures", async (t) => {
  t.equal(encodeEnvelope(0, Buffer.alloc(0)).toString("hex"), "0000000000");
  t.equal(encodeEnvelope(0, hex("0801")).toString("hex"), "00000000020801");
  t.equal(encodeEnvelope(EnvelopeFlag.Compressed, hex("abcdef")).toString("hex"), "0100000003abcdef");
  t.equal(encodeEnvelope(EnvelopeFlag.EndStream, Buffer.from("{}")).toString("hex"), "02000000027b7d");
  t.equal(
    encodeEnvelope(EnvelopeFlag.Trailers, Buffer.from("grpc-status: 0\r\n")).toString("hex"),
    "8000000010" + Buffer.from("grpc-status: 0\r\n").toString("hex"),
  );
  t.equal(encodeEnvelopeHeader(0x80, 0x01020304).toString("hex"), "8001020304");
  t.equal(encodeEnvelopeHeader(0, 0xffffffff).toString("hex"), "00ffffffff");
  t.equal(
    encodeEnvelopes([
      { flags: 0, payload: hex("0801") },
      { flags: EnvelopeFlag.EndStream, payload: new Uint8Array([0x7b, 0x7d]) },
    ]).toString("hex"),
    "00000000020801" + "02000000027b7d",
  );
  t.equal(encodeEnvelopes([]).length, 0);
});

t.test("a plain Uint8Array payload is accepted", async (t) => {
  const backing = new Uint8Array([1, 2, 3, 4]);
  t.equal(encodeEnvelope(0, backing.subarray(1, 3)).toString("hex"), "00000000020203");
});

t.test("invalid headers are RpcErrors", async (t) => {
  t.throws(() => encodeEnvelopeHeader(256, 0), { code: Code.Internal });
  t.throws(() => encodeEnvelopeHeader(-1, 0), { code: Code.Internal });
  t.throws(() => encodeEnvelopeHeader(1.5, 0), { code: Code.Internal });
  t.throws(() => encodeEnvelopeHeader(0, 2 ** 32), { code: Code.ResourceExhausted });
  t.throws(() => encodeEnvelope(0x100, Buffer.alloc(1)), { code: Code.Internal });
  t.throws(() => encodeEnvelopes([{ flags: 0x1ff, payload: Buffer.alloc(1) }]), { code: Code.Internal });
});

t.test("envelopeChunks copies small payloads and references large ones", async (t) => {
  const small = Buffer.alloc(envelopeCopyThreshold, 1);
  const smallChunks = envelopeChunks(0, small);
  t.equal(smallChunks.length, 1);
  t.equal(smallChunks[0]!.length, 5 + envelopeCopyThreshold);
  t.equal(smallChunks[0]!.readUInt32BE(1), envelopeCopyThreshold);

  const large = Buffer.alloc(envelopeCopyThreshold + 1, 2);
  const [header, body, ...rest] = envelopeChunks(EnvelopeFlag.Compressed, large);
  t.same(rest, []);
  t.equal(header!.toString("hex"), "01" + (envelopeCopyThreshold + 1).toString(16).padStart(8, "0"));
  t.equal(body, large, "the payload itself, not a copy");

  const plain = new Uint8Array(envelopeCopyThreshold + 10);
  const [, plainBody] = envelopeChunks(0, plain);
  t.ok(Buffer.isBuffer(plainBody));
  t.equal(plainBody!.buffer, plain.buffer, "same memory");

  const decoded = decodeChunks(envelopeChunks(0, large));
  t.equal(decoded.envelopes.length, 1);
  t.equal(decoded.envelopes[0]!.payload, large.toString("hex"));
});

t.test("small envelopes are cut from a shared slab without overlapping", async (t) => {
  const a = encodeEnvelope(0, hex("0801"));
  const b = encodeEnvelope(EnvelopeFlag.Compressed, hex("aabbcc"));
  t.ok(Buffer.isBuffer(a) && Buffer.isBuffer(b));
  t.equal(a.buffer, b.buffer, "one slab");
  t.ok(a.buffer.byteLength > a.length + b.length, "larger than the envelopes");
  t.ok(b.byteOffset >= a.byteOffset + a.length, "b starts after a");
  b.fill(0xee);
  t.equal(a.toString("hex"), "00000000020801", "writing one leaves the other alone");

  // Thousands of envelopes kept alive at once, across many slabs: each keeps its own bytes.
  const random = prng(0x51ab);
  const kept: { payload: Buffer; envelope: Buffer }[] = [];
  for (let i = 0; i < 5000; i++) {
    const size = random() < 0.9 ? Math.floor(random() * 64) : Math.floor(random() * 4096);
    const payload = Buffer.alloc(size, i & 0xff);
    kept.push({ payload, envelope: encodeEnvelope(0, payload) });
  }
  const wrong = kept.filter(
    ({ payload, envelope }) =>
      envelope.length !== payload.length + 5 ||
      envelope.readUInt32BE(1) !== payload.length ||
      !envelope.subarray(5).equals(payload),
  );
  t.equal(wrong.length, 0);
});

t.test("a slab cannot be detached by transferring one envelope's memory", async (t) => {
  const envelope = encodeEnvelope(0, hex("0801"));
  const { port1, port2 } = new MessageChannel();
  // The slab is marked untransferable: Node 20 then copies it silently, Node 22 and later refuse the
  // transfer with a DataCloneError. Either way it stays attached, which is what matters here.
  try {
    port1.postMessage(envelope.buffer, [envelope.buffer as ArrayBuffer]);
  } catch (error) {
    t.equal((error as Error).name, "DataCloneError", "refused (Node 22+)");
  }
  port1.close();
  port2.close();
  t.equal(envelope.toString("hex"), "00000000020801", "still readable");
  const plain = new ArrayBuffer(8);
  const { port1: other } = new MessageChannel();
  other.postMessage(plain, [plain]);
  other.close();
  t.equal(plain.byteLength, 0, "whereas an ordinary ArrayBuffer is detached");
});

t.test("round trip: decode(encode(x)) = x for random sizes, flags and splits", async (t) => {
  const random = prng(0x5eed);
  const flagChoices = [0, 0x01, 0x02, 0x03, 0x80, 0x81];
  for (let round = 0; round < 300; round++) {
    const count = 1 + Math.floor(random() * 6);
    const list: { flags: number; payload: Buffer }[] = [];
    for (let i = 0; i < count; i++) {
      const sizeClass = random();
      const size =
        sizeClass < 0.5
          ? Math.floor(random() * 16)
          : sizeClass < 0.9
            ? Math.floor(random() * 2048)
            : Math.floor(random() * 70_000);
      const payload = Buffer.allocUnsafe(size);
      for (let j = 0; j < size; j++) payload[j] = (random() * 256) | 0;
      list.push({ flags: flagChoices[Math.floor(random() * flagChoices.length)]!, payload });
    }
    // Encode by all three routes, then cut the stream at random places.
    const pick = random();
    const wire =
      pick < 0.33
        ? encodeEnvelopes(list)
        : pick < 0.66
          ? Buffer.concat(list.map((e) => encodeEnvelope(e.flags, e.payload)))
          : Buffer.concat(list.flatMap((e) => envelopeChunks(e.flags, e.payload)));
    const chunks: Buffer[] = [];
    let at = 0;
    while (at < wire.length) {
      const step = random() < 0.3 ? 1 + Math.floor(random() * 8) : 1 + Math.floor(random() * 40_000);
      chunks.push(wire.subarray(at, at + step));
      at += step;
    }
    const decoder = new EnvelopeDecoder();
    const out: { flags: number; payload: Buffer }[] = [];
    for (const chunk of chunks) {
      decoder.push(chunk);
      for (let e = decoder.next(); e !== undefined; e = decoder.next()) out.push(e);
    }
    decoder.end();
    if (
      out.length !== list.length ||
      out.some((e, i) => e.flags !== list[i]!.flags || !e.payload.equals(list[i]!.payload))
    ) {
      t.fail(`round ${round} differs`);
      return;
    }
  }
  t.pass("300 random streams round-tripped");
});
