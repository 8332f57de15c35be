import { Code } from "./code.ts";
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
 * Incremental envelope decoder, independent of any transport.
 *
 * Chunks of any size go in with `push()`; whole envelopes come out of `next()`. Like ws's
 * Receiver it keeps a queue of chunks and a running byte count: a message that lies within
 * one chunk is returned as a view of it (no copy), one that spans chunks is copied once into
 * a buffer of exactly its size, and nothing is allocated for a message before all its bytes
 * have arrived — so a peer that announces 4 GiB and sends 5 bytes costs nothing. The length
 * is checked against `maxMessageBytes` as soon as the header is complete.
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
  #flags = 0;
  #length = noHeader;
  #error: RpcError | undefined;

  constructor(options: EnvelopeDecoderOptions = {}) {
    const max = options.maxMessageBytes ?? defaultMaxMessageBytes;
    if (!Number.isInteger(max) || max < 0)
      throw new RangeError(`maxMessageBytes must be a non-negative integer`);
    this.maxMessageBytes = max;
    this.#disallowed = ~(options.allowedFlags ?? allFlags) & 0xff;
  }

  /** Bytes received and not yet returned (including a partly read header). */
  get bufferedBytes(): number {
    return this.#length === noHeader ? this.#buffered : this.#buffered + envelopeHeaderBytes;
  }

  /** Queues a chunk. The decoder keeps a reference: don't reuse the chunk's memory until its messages are consumed. */
  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    if (this.#tail === this.#chunks.length && this.#head * 2 >= this.#tail && this.#head > 0) this.#compact();
    this.#chunks[this.#tail++] = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.#buffered += chunk.byteLength;
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
    if (this.#buffered < length) return undefined;
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
        ? `${this.#buffered} of ${envelopeHeaderBytes} header bytes`
        : `${this.#buffered} of ${this.#length} payload bytes`;
    throw this.#fail(Code.Internal, `stream ended inside an envelope (${detail})`);
  }

  // Reads a header that spans chunks byte by byte, rather than allocate for 5 bytes.
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
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[this.#head]!;
      const start = this.#offset;
      const count = Math.min(chunk.length - start, n - filled);
      if (count < 16) {
        // Tiny pieces (a peer writing byte by byte): a loop beats copy()'s call overhead.
        for (let i = 0; i < count; i++) out[filled + i] = chunk[start + i]!;
      } else {
        chunk.copy(out, filled, start, start + count);
      }
      filled += count;
      this.#skip(count);
    }
    return out;
  }

  #fail(code: Code, message: string): RpcError {
    this.#error = new RpcError(code, message);
    // Drop the queue: a failed stream will not be read further.
    this.#chunks = [];
    this.#head = 0;
    this.#tail = 0;
    this.#buffered = 0;
    this.#offset = 0;
    return this.#error;
  }
}

const emptyPayload = Buffer.alloc(0);
