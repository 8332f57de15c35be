import { ErrorCode, ZooKeeperError } from "./errors.ts";

/**
 * Jute, ZooKeeper's record serialisation (`BinaryOutputArchive`/`BinaryInputArchive`): big-endian
 * int (4 bytes) and long (8), bool as one byte, buffer and ustring as an int length then bytes (-1 for
 * null), vector as an int count then items (-1 for null).
 */
export class JuteWriter {
  #buffer: Buffer;
  #length = 0;

  constructor(initialBytes = 256) {
    this.#buffer = Buffer.allocUnsafe(initialBytes);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#length;
  }

  #reserve(bytes: number): number {
    const at = this.#length;
    const need = at + bytes;
    if (need > this.#buffer.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.#buffer.length * 2));
      this.#buffer.copy(grown, 0, 0, at);
      this.#buffer = grown;
    }
    this.#length = need;
    return at;
  }

  int(value: number): this {
    // The offset first: reserving may replace the buffer.
    const at = this.#reserve(4);
    this.#buffer.writeInt32BE(value, at);
    return this;
  }

  long(value: bigint): this {
    const at = this.#reserve(8);
    this.#buffer.writeBigInt64BE(value, at);
    return this;
  }

  bool(value: boolean): this {
    const at = this.#reserve(1);
    this.#buffer[at] = value ? 1 : 0;
    return this;
  }

  buffer(value: Uint8Array | null): this {
    if (value === null) return this.int(-1);
    this.int(value.length);
    const at = this.#reserve(value.length);
    this.#buffer.set(value, at);
    return this;
  }

  ustring(value: string | null): this {
    if (value === null) return this.int(-1);
    const bytes = Buffer.byteLength(value);
    this.int(bytes);
    const at = this.#reserve(bytes);
    this.#buffer.write(value, at, "utf8");
    return this;
  }

  vector<T>(items: ReadonlyArray<T> | null, write: (writer: this, item: T) => void): this {
    if (items === null) return this.int(-1);
    this.int(items.length);
    for (const item of items) write(this, item);
    return this;
  }

  /** The bytes written, as a view (no copy). */
  finish(): Buffer {
    return this.#buffer.subarray(0, this.#length);
  }
}

/**
 * Reads jute records from one frame. The frame is already bounded by the framing, and every length
 * prefix is checked against the bytes left in it before anything is allocated or sliced: a lying length
 * is a MARSHALLINGERROR, never an allocation.
 */
export class JuteReader {
  readonly #buffer: Buffer;
  #offset: number;

  constructor(buffer: Buffer, offset = 0) {
    this.#buffer = buffer;
    this.#offset = offset;
  }

  /** Bytes not read yet. */
  get remaining(): number {
    return this.#buffer.length - this.#offset;
  }

  #take(bytes: number, what: string): number {
    if (bytes > this.remaining)
      throw new ZooKeeperError(
        ErrorCode.MARSHALLINGERROR,
        `${what} needs ${bytes} bytes, the record has ${this.remaining} left`,
      );
    const at = this.#offset;
    this.#offset += bytes;
    return at;
  }

  int(): number {
    return this.#buffer.readInt32BE(this.#take(4, "int"));
  }

  long(): bigint {
    return this.#buffer.readBigInt64BE(this.#take(8, "long"));
  }

  bool(): boolean {
    return this.#buffer[this.#take(1, "bool")] !== 0;
  }

  #length(what: string): number {
    const length = this.int();
    if (length < -1) throw new ZooKeeperError(ErrorCode.MARSHALLINGERROR, `${what} length ${length}`);
    return length;
  }

  /** A buffer field as a view into the frame (null for length -1). */
  buffer(): Buffer | null {
    const length = this.#length("buffer");
    if (length === -1) return null;
    const at = this.#take(length, "buffer");
    return this.#buffer.subarray(at, at + length);
  }

  ustring(): string | null {
    const length = this.#length("ustring");
    if (length === -1) return null;
    const at = this.#take(length, "ustring");
    return this.#buffer.toString("utf8", at, at + length);
  }

  /**
   * A vector; its count is checked against the bytes left (each item takes at least `minItemBytes`) so a
   * lying count cannot make a huge array.
   */
  vector<T>(read: (reader: this) => T, minItemBytes = 4): T[] | null {
    const count = this.#length("vector");
    if (count === -1) return null;
    if (count * minItemBytes > this.remaining)
      throw new ZooKeeperError(
        ErrorCode.MARSHALLINGERROR,
        `vector of ${count} items cannot fit in the ${this.remaining} bytes left`,
      );
    const items: T[] = [];
    for (let i = 0; i < count; i++) items.push(read(this));
    return items;
  }
}
