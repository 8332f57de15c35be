import { ErrorCode, ZooKeeperError } from "./errors.ts";

/**
 * ZooKeeper's packet framing: every packet both ways is a 4-byte big-endian length, then that many bytes.
 */

/**
 * The largest packet the client reads by default: the server refuses requests over `jute.maxbuffer`
 * (0xfffff, 1 MiB - 1, by default) and its answers (a getChildren of a node with many children) can carry
 * a little more, so 4 MiB leaves room without letting a lying length prefix allocate without bound.
 */
export const defaultMaxPacketBytes = 4 * 1024 * 1024;

/**
 * The largest request the client sends: the server's default `jute.maxbuffer`. A bigger packet would make
 * the server drop the connection ("Len error"), failing every request in flight, so it is refused locally.
 */
export const maxRequestBytes = 0xfffff;

/** The 4-byte length prefix and the packet, in one buffer (so one socket write). */
export function encodeFrame(packet: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(4 + packet.length);
  frame.writeInt32BE(packet.length, 0);
  frame.set(packet, 4);
  return frame;
}

/**
 * Splits a byte stream into packets. Chunks are queued until a whole packet is there: a packet inside one
 * chunk is returned as a view, one across chunks is copied once; the length is checked against
 * `maxPacketBytes` on the prefix, before any byte of the packet is kept.
 */
export class FrameDecoder {
  readonly #maxPacketBytes: number;
  readonly #chunks: Buffer[] = [];
  #buffered = 0;
  #expected = -1;

  constructor(maxPacketBytes = defaultMaxPacketBytes) {
    this.#maxPacketBytes = maxPacketBytes;
  }

  /** Bytes held for an incomplete packet (at most 4 + maxPacketBytes + one chunk). */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /**
   * Adds a chunk and returns the packets it completes. Throws a MARSHALLINGERROR ZooKeeperError for a
   * negative or over-limit length: the stream cannot be resynchronised, so the caller drops the connection.
   */
  push(chunk: Buffer): Buffer[] {
    const packets: Buffer[] = [];
    if (chunk.length === 0) return packets;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    for (;;) {
      if (this.#expected < 0) {
        if (this.#buffered < 4) return packets;
        const length = this.#readLength();
        if (length < 0 || length > this.#maxPacketBytes)
          throw new ZooKeeperError(
            ErrorCode.MARSHALLINGERROR,
            `packet length ${length} is over the limit of ${this.#maxPacketBytes} bytes`,
          );
        this.#expected = length;
      }
      if (this.#buffered < this.#expected) return packets;
      packets.push(this.#take(this.#expected));
      this.#expected = -1;
    }
  }

  #readLength(): number {
    const first = this.#chunks[0]!;
    if (first.length >= 4) {
      const length = first.readInt32BE(0);
      this.#consume(4);
      return length;
    }
    return this.#take(4).readInt32BE(0);
  }

  #consume(bytes: number): void {
    let left = bytes;
    while (left > 0) {
      const first = this.#chunks[0]!;
      if (first.length <= left) {
        this.#chunks.shift();
        left -= first.length;
      } else {
        this.#chunks[0] = first.subarray(left);
        left = 0;
      }
    }
    this.#buffered -= bytes;
  }

  #take(bytes: number): Buffer {
    const first = this.#chunks[0];
    if (first !== undefined && first.length >= bytes) {
      const view = first.subarray(0, bytes);
      this.#consume(bytes);
      return view;
    }
    const out = Buffer.allocUnsafe(bytes);
    let at = 0;
    while (at < bytes) {
      const chunk = this.#chunks[0]!;
      const n = Math.min(chunk.length, bytes - at);
      chunk.copy(out, at, 0, n);
      at += n;
      this.#consume(n);
    }
    return out;
  }
}
