import { promisify } from "node:util";
import * as zlib from "node:zlib";
import { Code } from "./code.ts";
import { quotePeerText } from "./peer-text.ts";
import { RpcError } from "./rpc-error.ts";

/** A message encoding for `grpc-encoding`, `Content-Encoding` and `Connect-Content-Encoding`. */
export interface Compression {
  /** The token on the wire: `identity`, `gzip`. */
  readonly name: string;
  compress(data: Uint8Array): Promise<Buffer>;
  /**
   * Inflates `data`, never producing (or allocating for) more than `maxBytes` of output.
   * @throws RpcError RESOURCE_EXHAUSTED past `maxBytes`, INTERNAL for corrupt data.
   */
  decompress(data: Uint8Array, maxBytes: number): Promise<Buffer>;
}

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function tooLarge(maxBytes: number): RpcError {
  return new RpcError(Code.ResourceExhausted, `decompressed message exceeds the limit of ${maxBytes} bytes`);
}

/** No compression. */
export const identity: Compression = {
  name: "identity",
  compress(data) {
    return Promise.resolve(asBuffer(data));
  },
  decompress(data, maxBytes) {
    if (data.byteLength > maxBytes) return Promise.reject(tooLarge(maxBytes));
    return Promise.resolve(asBuffer(data));
  },
};

const gzipAsync = promisify(zlib.gzip);
const gunzipAsync = promisify(zlib.gunzip);

/** gzip through node:zlib. */
export const gzip: Compression = {
  name: "gzip",
  compress(data) {
    return gzipAsync(data);
  },
  async decompress(data, maxBytes) {
    // gRPC peers send an empty compressed message as zero bytes, not as an empty gzip member.
    if (data.byteLength === 0) return Buffer.alloc(0);
    try {
      // maxOutputLength makes zlib stop inflating (and allocating) once the output passes the
      // limit, so a gzip bomb costs at most maxBytes plus one chunk. It must be at least 1.
      const out = await gunzipAsync(data, { maxOutputLength: Math.max(maxBytes, 1) });
      if (out.length > maxBytes) throw tooLarge(maxBytes);
      return out;
    } catch (cause) {
      if (cause instanceof RpcError) throw cause;
      if ((cause as { code?: unknown }).code === "ERR_BUFFER_TOO_LARGE") throw tooLarge(maxBytes);
      throw new RpcError(Code.Internal, `invalid gzip data: ${(cause as Error).message}`, { cause });
    }
  },
};

const byName = new Map<string, Compression>([
  ["identity", identity],
  ["gzip", gzip],
]);

/** Encodings this library reads and writes, for `grpc-accept-encoding` and `Accept-Encoding`. */
export const supportedEncodings: readonly string[] = Object.freeze([...byName.keys()]);

/**
 * The compression named by an encoding header; absent or empty means identity.
 * @throws RpcError UNIMPLEMENTED for an encoding we don't support, naming the accepted ones.
 */
export function findCompression(name: string | undefined): Compression {
  if (name === undefined || name === "") return identity;
  const found = byName.get(name.trim().toLowerCase());
  if (found !== undefined) return found;
  throw new RpcError(
    Code.Unimplemented,
    `unsupported compression ${quotePeerText(name)}: accepted are ${supportedEncodings.join(", ")}`,
  );
}
