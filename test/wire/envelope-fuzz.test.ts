import t from "tap";
import { Code } from "../../src/wire/code.ts";
import { EnvelopeDecoder } from "../../src/wire/envelope.ts";
import { RpcError } from "../../src/wire/rpc-error.ts";
import { prng } from "./fixtures/decode.ts";

// Seeded so that a failure replays; the seed and input index are printed on failure.
const seed = 0x7219;
const inputs = 100_000;
const allowedFlags = 0x83;

interface Outcome {
  envelopes: string[];
  code: Code | undefined;
}

// The oracle: the whole input at once, read front to back.
function reference(input: Buffer, max: number): Outcome {
  const envelopes: string[] = [];
  let at = 0;
  while (at < input.length) {
    if (input.length - at < 5) return { envelopes, code: Code.Internal };
    const flags = input[at]!;
    const length = input.readUInt32BE(at + 1);
    if ((flags & ~allowedFlags) !== 0) return { envelopes, code: Code.Internal };
    if (length > max) return { envelopes, code: Code.ResourceExhausted };
    if (input.length - at - 5 < length) return { envelopes, code: Code.Internal };
    envelopes.push(`${flags}:${input.toString("hex", at + 5, at + 5 + length)}`);
    at += 5 + length;
  }
  return { envelopes, code: undefined };
}

function incremental(chunks: Uint8Array[], max: number, limit: number): Outcome {
  const decoder = new EnvelopeDecoder({ maxMessageBytes: max });
  const envelopes: string[] = [];
  try {
    for (const chunk of chunks) {
      decoder.push(chunk);
      if (decoder.bufferedBytes > limit)
        throw new Error(`buffered ${decoder.bufferedBytes} > input ${limit}`);
      for (let e = decoder.next(); e !== undefined; e = decoder.next()) {
        envelopes.push(`${e.flags}:${e.payload.toString("hex")}`);
      }
    }
    decoder.end();
    return { envelopes, code: undefined };
  } catch (error) {
    if (!(error instanceof RpcError)) throw error;
    return { envelopes, code: error.code };
  }
}

function randomInput(random: () => number, max: number): Buffer {
  const parts: Buffer[] = [];
  const count = Math.floor(random() * 5);
  for (let i = 0; i < count; i++) {
    const kind = random();
    if (kind < 0.7) {
      // A well-formed envelope, sometimes with a bad flag or a length near the limit.
      // Lengths around the limit only when the limit is small, to keep the inputs small.
      const nearLimit = max < 64 && random() < 0.3;
      const length = nearLimit ? Math.max(0, max - 1 + Math.floor(random() * 3)) : Math.floor(random() * 24);
      const flags =
        random() < 0.9 ? [0, 1, 2, 3, 0x80, 0x81][Math.floor(random() * 6)]! : Math.floor(random() * 256);
      const envelope = Buffer.allocUnsafe(5 + length);
      envelope[0] = flags;
      envelope.writeUInt32BE(length, 1);
      for (let j = 5; j < envelope.length; j++) envelope[j] = Math.floor(random() * 256);
      parts.push(envelope);
    } else if (kind < 0.85) {
      // A header announcing anything at all, up to 4 GiB.
      const header = Buffer.allocUnsafe(5);
      header[0] = random() < 0.5 ? 0 : Math.floor(random() * 256);
      header.writeUInt32BE(Math.floor(random() * 0x1_0000_0000), 1);
      parts.push(header);
    } else {
      // Garbage.
      const garbage = Buffer.allocUnsafe(Math.floor(random() * 12));
      for (let j = 0; j < garbage.length; j++) garbage[j] = Math.floor(random() * 256);
      parts.push(garbage);
    }
  }
  let input = Buffer.concat(parts);
  if (random() < 0.2 && input.length > 0) input = input.subarray(0, Math.floor(random() * input.length));
  return input;
}

function randomSplit(random: () => number, input: Buffer): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let at = 0;
  const mode = random();
  while (at < input.length) {
    const step = mode < 0.3 ? 1 : 1 + Math.floor(random() * (mode < 0.7 ? 8 : input.length));
    const chunk = input.subarray(at, at + step);
    // Mix in plain Uint8Arrays and empty chunks: both are legal input.
    chunks.push(random() < 0.1 ? new Uint8Array(chunk) : chunk);
    if (random() < 0.05) chunks.push(new Uint8Array(0));
    at += step;
  }
  return chunks;
}

t.test(`fuzz: ${inputs} random inputs and splits match the whole-input oracle`, async (t) => {
  const random = prng(seed);
  const heapBefore = process.memoryUsage().heapUsed;
  const codes = new Map<string, number>();
  for (let i = 0; i < inputs; i++) {
    const max = random() < 0.5 ? Math.floor(random() * 32) : 4 * 1024 * 1024;
    const input = randomInput(random, max);
    const expected = reference(input, max);
    let actual: Outcome;
    try {
      actual = incremental(randomSplit(random, input), max, input.length);
    } catch (error) {
      t.fail(`seed ${seed} input ${i} (${input.toString("hex")}): threw a non-RpcError ${String(error)}`);
      return;
    }
    if (
      actual.code !== expected.code ||
      actual.envelopes.length !== expected.envelopes.length ||
      actual.envelopes.some((e, k) => e !== expected.envelopes[k])
    ) {
      t.same(actual, expected, `seed ${seed} input ${i} (${input.toString("hex")}) with max ${max}`);
      return;
    }
    const key = expected.code === undefined ? "ok" : Code[expected.code]!;
    codes.set(key, (codes.get(key) ?? 0) + 1);
  }
  // Every outcome must have been exercised many times, or the generator is broken.
  for (const key of ["ok", "Internal", "ResourceExhausted"]) {
    t.ok((codes.get(key) ?? 0) > 1000, `${key}: ${codes.get(key) ?? 0} inputs`);
  }
  const grown = process.memoryUsage().heapUsed - heapBefore;
  t.ok(grown < 64 * 1024 * 1024, `heap grew by ${grown} bytes over ${inputs} inputs`);
});
