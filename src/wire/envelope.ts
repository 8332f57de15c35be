import { allocateBytes, copyBytes } from "./bytes.ts";
import { Code } from "./code.ts";
import { ConfigError } from "./config-error.ts";
import { RpcError } from "./rpc-error.ts";

/** Bits of the envelope's first byte. */
export const EnvelopeFlag = {
  /** The payload is compressed with the negotiated encoding. */
  Compressed: 0x01,
  /** triple/Connect streaming: the last envelope, its payload a JSON end-stream message. */
  EndStream: 0x02,
  /** gRPC-Web: the payload holds the trailers as HTTP/1 header lines. */
  Trailers: 0x80,
} as const;

/**
 * The names of an envelope's flag bits, lowest first (`compressed`, `end-stream`, `trailers`), as
 * `decode` and `--verbose` print them; unknown bits are not named.
 * @internal
 */
export function envelopeFlagNames(flags: number): string[] {
  const names: string[] = [];
  if (flags & EnvelopeFlag.Compressed) names.push("compressed");
  if (flags & EnvelopeFlag.EndStream) names.push("end-stream");
  if (flags & EnvelopeFlag.Trailers) names.push("trailers");
  return names;
}

/** One length-prefixed message: `[flags:1][length:4 big-endian][payload]`. */
export interface Envelope {
  flags: number;
  payload: Buffer;
}

/** Size of the envelope prefix. */
export const envelopeHeaderBytes = 5;

/** gRPC's default receive limit (grpc-go and grpc-js): 4 MiB. */
export const defaultMaxMessageBytes = 4 * 1024 * 1024;

const allFlags = EnvelopeFlag.Compressed | EnvelopeFlag.EndStream | EnvelopeFlag.Trailers;

export interface EnvelopeDecoderOptions {
  /** Largest payload accepted; a bigger length on a header fails with RESOURCE_EXHAUSTED. Default 4 MiB. */
  maxMessageBytes?: number;
  /** Flag bits the protocol allows; any other bit fails with INTERNAL. Default `0x83` (all three). */
  allowedFlags?: number;
}

// Marks "no header read yet"; lengths are never negative.
const noHeader = -1;

/**
 * A message up to this size that arrives in pieces gets its buffer when its first payload bytes
 * arrive, and later chunks are copied straight into it instead of being queued, so a peer writing
 * byte by byte costs a few operations per byte, not a queue slot. A peer can thus make us allocate
 * up to this much per message ahead of its bytes — kept below what merely opening an HTTP/2
 * stream already costs a node:http2 server (5.7-7.3 KiB of memory per open stream for a bare
 * server in bench/watch-fanout.mjs), so that it adds no new lever for a memory attack; larger
 * messages keep the rule that nothing is allocated before their bytes arrive.
 */
export const envelopeEagerBytes = 4 * 1024;

// For a cheaper check than Buffer.isBuffer(), whose `instanceof` reads a property of the Buffer
// function (measured: dropping it made decoding 1-byte chunks about a fifth faster).
const bufferPrototype = Buffer.prototype;

/**
 * Incremental envelope decoder, independent of any transport.
 *
 * Chunks of any size go in with `push()`; whole envelopes come out of `next()`. Like ws's
 * Receiver it keeps a queue of chunks and a running byte count: a message that lies within
 * one chunk is returned as a view of it (no copy), one that spans chunks is copied once into
 * a buffer of exactly its size. The length is checked against `maxMessageBytes` as soon as
 * the header is complete, before anything is allocated for the payload. A message larger
 * than `envelopeEagerBytes` gets its buffer only when all its bytes have arrived, so a peer
 * that announces 4 MiB and sends 5 bytes costs nothing; a smaller one that arrives in pieces
 * gets it with its first payload bytes, and the rest is copied into it as it arrives.
 *
 * Errors are sticky: after `next()` or `end()` throws, every later call throws the same error.
 */
export class EnvelopeDecoder {
  readonly maxMessageBytes: number;
  readonly #disallowed: number;
  // Unconsumed chunks are `#chunks[#head .. #tail)`, the first read from `#offset`. Head and tail
  // indexes rather than shift()/push() keep a message spread over thousands of tiny chunks linear,
  // and reusing the array's slots keeps the common one-chunk-at-a-time case allocation-free.
  // Consumed slots are cleared so the queue never pins a chunk it is done with.
  #chunks: (Buffer | undefined)[] = [];
  #head = 0;
  #tail = 0;
  #offset = 0;
  #buffered = 0;
  // The header of the current message, once read: its flags and payload length.
  #flags = 0;
  #length = noHeader;
  // A header arriving in pieces smaller than itself, collected here rather than queued: how many
  // of its bytes have arrived (0 to 5; between 1 and 4 the queue is empty), and its length so far
  // (its flags go to #flags).
  #headerHave = 0;
  #headerLength = 0;
  // The payload being filled as it arrives (messages up to envelopeEagerBytes), and how much of
  // it has arrived. While it is incomplete the queue is empty.
  #partial: Buffer | undefined;
  #filled = 0;
  #error: RpcError | undefined;

  constructor(options: EnvelopeDecoderOptions = {}) {
    const max = options.maxMessageBytes ?? defaultMaxMessageBytes;
    if (!Number.isInteger(max) || max < 0)
      throw new ConfigError(`maxMessageBytes must be a non-negative integer`);
    this.maxMessageBytes = max;
    this.#disallowed = ~(options.allowedFlags ?? allFlags) & 0xff;
  }

  /** Bytes received and not yet returned (including a partly read header). */
  get bufferedBytes(): number {
    const held = this.#buffered + this.#headerHave + this.#filled;
    return this.#length === noHeader ? held : held + envelopeHeaderBytes;
  }

  /**
   * Takes a chunk: queues it, or copies it into the header or small message being read when it
   * holds only part of one. The decoder may keep a reference: don't reuse the chunk's memory
   * until its messages are consumed.
   */
  push(chunk: Uint8Array): void {
    const size = chunk.byteLength;
    if (size === 0) return;
    let used = 0;
    if (this.#buffered === 0) {
      // Nothing queued: the bytes may go straight into the payload being filled or the header
      // being collected. Both are tried only for pieces, so a whole message in one chunk is
      // still queued as it is and returned as a view.
      const partial = this.#partial;
      if (partial !== undefined) {
        used = Math.min(size, partial.length - this.#filled);
        copyBytes(chunk, 0, used, partial, this.#filled);
        this.#filled += used;
      } else if (this.#length === noHeader && (this.#headerHave !== 0 || size < envelopeHeaderBytes)) {
        used = Math.min(size, envelopeHeaderBytes - this.#headerHave);
        this.#collectHeader(chunk, used);
      }
      if (used === size) return;
    }
    let buffer =
      Object.getPrototypeOf(chunk) === bufferPrototype
        ? (chunk as Buffer)
        : Buffer.from(chunk.buffer, chunk.byteOffset, size);
    if (used !== 0) buffer = buffer.subarray(used);
    if (this.#tail === this.#chunks.length && this.#head * 2 >= this.#tail && this.#head > 0) this.#compact();
    this.#chunks[this.#tail++] = buffer;
    this.#buffered += buffer.length;
  }

  /**
   * The next complete envelope, or `undefined` until more bytes arrive.
   * @throws RpcError RESOURCE_EXHAUSTED when a header announces more than `maxMessageBytes`,
   *   INTERNAL when it carries a flag bit outside `allowedFlags`.
   */
  next(): Envelope | undefined {
    if (this.#error !== undefined) throw this.#error;
    let length = this.#length;
    if (length === noHeader) {
      const have = this.#headerHave;
      if (have !== 0) {
        if (have < envelopeHeaderBytes) return undefined;
        this.#headerHave = 0;
        length = this.#headerLength;
        this.#checkHeader(this.#flags, length);
        this.#length = length;
      } else {
        if (this.#buffered < envelopeHeaderBytes) return undefined;
        const chunk = this.#chunks[this.#head]!;
        const at = this.#offset;
        if (chunk.length - at < envelopeHeaderBytes) {
          length = this.#readSplitHeader();
        } else {
          const flags = chunk[at]!;
          length =
            ((chunk[at + 1]! << 24) | (chunk[at + 2]! << 16) | (chunk[at + 3]! << 8) | chunk[at + 4]!) >>> 0;
          this.#checkHeader(flags, length);
          const end = at + envelopeHeaderBytes + length;
          if (end <= chunk.length) {
            // The common case, the whole envelope in the first chunk: one view, no state to keep.
            this.#skip(envelopeHeaderBytes + length);
            return { flags, payload: chunk.subarray(at + envelopeHeaderBytes, end) };
          }
          this.#skip(envelopeHeaderBytes);
          this.#flags = flags;
          this.#length = length;
        }
      }
    }
    const partial = this.#partial;
    if (partial !== undefined) {
      if (this.#filled < length) return undefined;
      this.#partial = undefined;
      this.#filled = 0;
      this.#length = noHeader;
      return { flags: this.#flags, payload: partial };
    }
    const buffered = this.#buffered;
    if (buffered < length) {
      // Part of the payload is here and the rest will come in later chunks, so it will be copied
      // whatever we do: for a small message, copy this part now and the rest as it arrives.
      if (buffered !== 0 && length <= envelopeEagerBytes) {
        const payload = allocateBytes(length);
        this.#drainInto(payload, buffered);
        this.#partial = payload;
        this.#filled = buffered;
      }
      return undefined;
    }
    this.#length = noHeader;
    return { flags: this.#flags, payload: this.#take(length) };
  }

  /**
   * Declares the end of input.
   * @throws RpcError INTERNAL when the input stopped inside an envelope.
   */
  end(): void {
    if (this.#error !== undefined) throw this.#error;
    if (this.bufferedBytes === 0) return;
    const detail =
      this.#length === noHeader
        ? `${this.#buffered + this.#headerHave} of ${envelopeHeaderBytes} header bytes`
        : `${this.#buffered + this.#filled} of ${this.#length} payload bytes`;
    throw this.#fail(Code.Internal, `stream ended inside an envelope (${detail})`);
  }

  // Takes the first `count` bytes of `chunk` into the header being collected.
  #collectHeader(chunk: Uint8Array, count: number): void {
    let have = this.#headerHave;
    let length = this.#headerLength;
    for (let i = 0; i < count; i++, have++) {
      if (have === 0) this.#flags = chunk[i]!;
      else length = ((length << 8) | chunk[i]!) >>> 0;
    }
    this.#headerHave = have;
    this.#headerLength = length;
  }

  // Reads a header that spans queued chunks byte by byte, rather than allocate for 5 bytes.
  #readSplitHeader(): number {
    const flags = this.#byte();
    const length = ((this.#byte() << 24) | (this.#byte() << 16) | (this.#byte() << 8) | this.#byte()) >>> 0;
    this.#checkHeader(flags, length);
    this.#flags = flags;
    this.#length = length;
    return length;
  }

  #checkHeader(flags: number, length: number): void {
    if ((flags & this.#disallowed) !== 0) {
      throw this.#fail(Code.Internal, `invalid envelope flags 0x${flags.toString(16).padStart(2, "0")}`);
    }
    if (length > this.maxMessageBytes) {
      throw this.#fail(
        Code.ResourceExhausted,
        `message of ${length} bytes exceeds the limit of ${this.maxMessageBytes} bytes`,
      );
    }
  }

  // Moves the live chunks to the front instead of growing the array: a queue that never drains (a
  // peer trickling bytes) stays as long as its live part. Runs only when at least half the slots
  // are dead, so its cost is amortized over the pushes that filled them.
  #compact(): void {
    const chunks = this.#chunks;
    const live = this.#tail - this.#head;
    for (let i = 0; i < live; i++) chunks[i] = chunks[this.#head + i];
    chunks.fill(undefined, live, this.#tail);
    this.#head = 0;
    this.#tail = live;
  }

  // Removes one byte; at least one is buffered.
  #byte(): number {
    const value = this.#chunks[this.#head]![this.#offset]!;
    this.#skip(1);
    return value;
  }

  // Advances past `n` bytes that lie within the first chunk.
  #skip(n: number): void {
    this.#buffered -= n;
    this.#offset += n;
    const chunks = this.#chunks;
    if (this.#offset !== chunks[this.#head]!.length) return;
    this.#offset = 0;
    chunks[this.#head] = undefined;
    if (++this.#head === this.#tail) {
      this.#head = 0;
      this.#tail = 0;
    }
  }

  // Removes `n` buffered bytes (n <= #buffered): a view when they lie within one chunk, else one copy.
  #take(n: number): Buffer {
    const first = this.#chunks[this.#head];
    if (first === undefined) return emptyPayload;
    const at = this.#offset;
    if (n <= first.length - at) {
      const view = first.subarray(at, at + n);
      this.#skip(n);
      return view;
    }
    const out = allocateBytes(n);
    this.#drainInto(out, n);
    return out;
  }

  // Moves the first `n` buffered bytes (n <= #buffered) to the start of `out`.
  #drainInto(out: Buffer, n: number): void {
    let at = 0;
    while (at < n) {
      const chunk = this.#chunks[this.#head]!;
      const start = this.#offset;
      const count = Math.min(chunk.length - start, n - at);
      copyBytes(chunk, start, count, out, at);
      at += count;
      this.#skip(count);
    }
  }

  #fail(code: Code, message: string): RpcError {
    this.#error = new RpcError(code, message);
    // Drop everything held: a failed stream will not be read further.
    this.#chunks = [];
    this.#head = 0;
    this.#tail = 0;
    this.#buffered = 0;
    this.#offset = 0;
    this.#headerHave = 0;
    this.#partial = undefined;
    this.#filled = 0;
    return this.#error;
  }
}

const emptyPayload = Buffer.alloc(0);
