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
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xff) {
    throw new RpcError(Code.Internal, `invalid envelope flags ${flags}`);
  }
  if (length > maxLength) {
    throw new RpcError(Code.ResourceExhausted, `message of ${length} bytes does not fit an envelope`);
  }
}

function writeHeader(target: Buffer, at: number, flags: number, length: number): void {
  target[at] = flags;
  target.writeUInt32BE(length, at + 1);
}

/** The 5-byte envelope prefix for a payload of `length` bytes (allocated from Node's buffer pool). */
export function encodeEnvelopeHeader(flags: number, length: number): Buffer {
  checkHeader(flags, length);
  const header = Buffer.allocUnsafe(envelopeHeaderBytes);
  writeHeader(header, 0, flags, length);
  return header;
}

/** One envelope in one buffer: header and a copy of the payload. */
export function encodeEnvelope(flags: number, payload: Uint8Array): Buffer {
  const length = payload.byteLength;
  checkHeader(flags, length);
  const out = Buffer.allocUnsafe(envelopeHeaderBytes + length);
  writeHeader(out, 0, flags, length);
  out.set(payload, envelopeHeaderBytes);
  return out;
}

/** Several envelopes back to back in one buffer (e.g. the last message and an end-stream envelope). */
export function encodeEnvelopes(list: readonly { flags: number; payload: Uint8Array }[]): Buffer {
  let total = 0;
  for (const item of list) {
    checkHeader(item.flags, item.payload.byteLength);
    total += envelopeHeaderBytes + item.payload.byteLength;
  }
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (const item of list) {
    writeHeader(out, at, item.flags, item.payload.byteLength);
    out.set(item.payload, at + envelopeHeaderBytes);
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
