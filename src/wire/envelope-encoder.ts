import { allocateBytes, copyBytes } from "./bytes.ts";
import { Code } from "./code.ts";
import { envelopeHeaderBytes } from "./envelope.ts";
import { RpcError } from "./rpc-error.ts";

/**
 * Payloads up to this size are copied behind their header into one buffer; larger ones are
 * sent by reference after a separate 5-byte header. 16 KiB is HTTP/2's default frame size:
 * below it one small copy is cheaper than a second write segment, above it the copy dominates.
 */
export const envelopeCopyThreshold = 16 * 1024;

const maxLength = 0xffff_ffff;

function checkHeader(flags: number, length: number): void {
  if ((flags & 0xff) !== flags) throw new RpcError(Code.Internal, `invalid envelope flags ${flags}`);
  if (length > maxLength) {
    throw new RpcError(Code.ResourceExhausted, `message of ${length} bytes does not fit an envelope`);
  }
}

function writeHeader(target: Buffer, at: number, flags: number, length: number): void {
  target[at] = flags;
  target[at + 1] = length >>> 24;
  target[at + 2] = length >>> 16;
  target[at + 3] = length >>> 8;
  target[at + 4] = length;
}

/** The 5-byte envelope prefix for a payload of `length` bytes (cut from a shared slab, like Buffer.allocUnsafe). */
export function encodeEnvelopeHeader(flags: number, length: number): Buffer {
  checkHeader(flags, length);
  const header = allocateBytes(envelopeHeaderBytes);
  writeHeader(header, 0, flags, length);
  return header;
}

// Payloads written over and over (the cached health replies), each framed once: payload → its envelope.
const framed = new WeakMap<Uint8Array, Buffer>();

/**
 * Frames a constant payload once and for all: from then on the envelope (flags 0) of this very bytes object
 * is one shared buffer, not a fresh copy per write. For the four health replies, which a flip writes to
 * every watcher and every Check answers with: a buffer object per write was half of a flip's garbage.
 * Never write into either.
 */
export function frameOnce(payload: Uint8Array): void {
  const length = payload.byteLength;
  checkHeader(0, length);
  const out = Buffer.allocUnsafeSlow(envelopeHeaderBytes + length);
  writeHeader(out, 0, 0, length);
  copyBytes(payload, 0, length, out, envelopeHeaderBytes);
  framed.set(payload, out);
}

/**
 * One envelope in one buffer: header and a copy of the payload (the shared envelope of a payload given to
 * {@link frameOnce}). Envelopes up to 2 KiB are cut from a shared 16 KiB slab, like Buffer.allocUnsafe's
 * pool: copy one you keep for long, and never write into one.
 */
export function encodeEnvelope(flags: number, payload: Uint8Array): Buffer {
  // A miss costs little: a fresh buffer has no identity hash yet, so the lookup ends there.
  if (flags === 0) {
    const shared = framed.get(payload);
    if (shared !== undefined) return shared;
  }
  const length = payload.byteLength;
  checkHeader(flags, length);
  const out = allocateBytes(envelopeHeaderBytes + length);
  writeHeader(out, 0, flags, length);
  copyBytes(payload, 0, length, out, envelopeHeaderBytes);
  return out;
}

/** Several envelopes back to back in one buffer (e.g. the last message and an end-stream envelope). */
export function encodeEnvelopes(list: readonly { flags: number; payload: Uint8Array }[]): Buffer {
  let total = 0;
  for (const item of list) {
    checkHeader(item.flags, item.payload.byteLength);
    total += envelopeHeaderBytes + item.payload.byteLength;
  }
  const out = allocateBytes(total);
  let at = 0;
  for (const item of list) {
    writeHeader(out, at, item.flags, item.payload.byteLength);
    copyBytes(item.payload, 0, item.payload.byteLength, out, at + envelopeHeaderBytes);
    at += envelopeHeaderBytes + item.payload.byteLength;
  }
  return out;
}

/**
 * The buffers to write for one envelope, meant for a corked write: `[envelope]` for a payload up
 * to `envelopeCopyThreshold` bytes, `[header, payload]` with the payload by reference (not copied)
 * above it. The caller must not modify a referenced payload until it has been written.
 */
export function envelopeChunks(flags: number, payload: Uint8Array): Buffer[] {
  if (payload.byteLength <= envelopeCopyThreshold) return [encodeEnvelope(flags, payload)];
  const body = Buffer.isBuffer(payload)
    ? payload
    : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  return [encodeEnvelopeHeader(flags, payload.byteLength), body];
}
