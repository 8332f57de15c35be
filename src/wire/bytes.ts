import { markAsUntransferable } from "node:worker_threads";

// Byte handling on the envelope hot path, shared by the encoder and the decoder.

// Small buffers (encoded envelopes, payloads the decoder copies) are cut from a slab of our own,
// the way Buffer.allocUnsafe cuts from Node's 8 KiB pool but without its per-call argument
// checks (measured on Node 20: a 2-byte envelope encodes a fifth to a quarter faster). The price is
// the pool's: a buffer kept alive keeps its whole slab alive, so
// a caller that stores one for long should copy it. Buffers above a slab's eighth get their own
// memory, so a slab loses at most an eighth at its end. (64 and 256 KiB slabs measured no faster
// for 1 KiB envelopes, where fresh memory and the copy dominate.)
const slabBytes = 16 * 1024;
const slabMaxBuffer = slabBytes >>> 3;
// `Buffer[Symbol.species]` is the constructor Node's own subarray() uses: a Buffer over given
// memory, without Buffer.from's argument checks.
// It is not documented, so a Node without it falls back to Buffer.from, the public way.
type BufferViewConstructor = new (memory: ArrayBuffer, offset: number, length: number) => Buffer;
const BufferView: BufferViewConstructor =
  (Buffer as unknown as { [Symbol.species]?: BufferViewConstructor })[Symbol.species] ??
  /* c8 ignore start: only on a Node whose Buffer lacks Symbol.species */
  (function PublicBufferView(memory: ArrayBuffer, offset: number, length: number) {
    return Buffer.from(memory, offset, length);
  } as unknown as BufferViewConstructor);
/* c8 ignore stop */
// Starts as a used-up slab: the first small buffer allocates a real one.
let slab = new ArrayBuffer(0);
let slabUsed = slabBytes;

/**
 * Uninitialized memory for `size` bytes: cut from a shared 16 KiB slab up to 2 KiB, else
 * Buffer.allocUnsafe.
 * @internal
 */
export function allocateBytes(size: number): Buffer {
  if (size > slabMaxBuffer) return Buffer.allocUnsafe(size);
  if (size > slabBytes - slabUsed) {
    slab = Buffer.allocUnsafeSlow(slabBytes).buffer as ArrayBuffer;
    // Like Node's pool: transferring one buffer's memory to a worker must not detach its neighbours.
    markAsUntransferable(slab);
    slabUsed = 0;
  }
  const out = new BufferView(slab, slabUsed, size);
  // Keep the next buffer 8-byte aligned, as Node's pool does, for the copy's sake.
  slabUsed = (slabUsed + size + 7) & ~7;
  return out;
}

// Pieces shorter than this are copied with a loop: for them it beats set()'s call overhead
// (measured on Node 20: about equal at 16 bytes, the loop twice as fast at 8).
const loopCopyMax = 16;

/**
 * Copies `count` bytes of `source` from `start` into `target` at `at`.
 * @internal
 */
export function copyBytes(
  source: Uint8Array,
  start: number,
  count: number,
  target: Uint8Array,
  at: number,
): void {
  if (count < loopCopyMax) {
    for (let i = 0; i < count; i++) target[at + i] = source[start + i]!;
  } else {
    target.set(count === source.length ? source : source.subarray(start, start + count), at);
  }
}
