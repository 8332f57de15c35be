import { Code } from "./code.ts";
import { quotePeerText } from "./peer-text.ts";
import { type Metadata, RpcError } from "./rpc-error.ts";

/**
 * Connection-level headers (RFC 9110 §7.6.1, RFC 9113 §8.2.2) that describe one hop, never the call:
 * `host` (HTTP/2's `:authority`) and `te` included. A fresh array, for callers that extend it.
 * @internal
 */
export function hopByHopHeaders(): string[] {
  return [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "http2-settings",
    "te",
    "trailer",
    "host",
  ];
}

/**
 * Headers that belong to the protocol or the transport, never to user metadata: they are left out
 * of `metadataFromHeaders` and skipped by `appendMetadataToHeaders`. The list follows grpc-go's
 * `isReservedHeader` (content-type, te, grpc-*), adds the triple/Connect protocol headers
 * (connect-*, triple-*, tri-protocol-version, tri-service-timeout), the body framing headers
 * (content-length, content-encoding, accept-encoding), `host` and the HTTP/1.1 hop-by-hop headers.
 * Deliberately not reserved: `user-agent`, which grpc-go also lets handlers see, and dubbo's
 * `tri-service-group` / `tri-service-version`, routing metadata that handlers need. Pseudo
 * headers (`:path`, `:authority`, ...) are always reserved.
 */
const reservedNames = new Set([
  ...hopByHopHeaders(),
  "content-type",
  "content-length",
  "content-encoding",
  "accept-encoding",
  "expect",
  "tri-protocol-version",
  "tri-service-timeout",
]);

const reservedPrefixes = ["grpc-", "connect-", "triple-"];

/** True for pseudo headers and protocol/transport headers that user metadata may not carry. */
export function isReservedHeader(name: string): boolean {
  const key = name.toLowerCase();
  if (key.startsWith(":")) return true;
  if (reservedNames.has(key)) return true;
  for (const prefix of reservedPrefixes) if (key.startsWith(prefix)) return true;
  return false;
}

/**
 * Default limit on user metadata, counted like HPACK's header list size (name + value + 32 per
 * entry). 16 KiB sits above grpc-core's 8 KiB soft limit, so metadata any gRPC client may send fits.
 */
export const defaultMaxMetadataBytes = 16 * 1024;

const headerEntryOverhead = 32;

export interface MetadataOptions {
  /** Limit on the user metadata size; above it RESOURCE_EXHAUSTED. Default 16 KiB. */
  maxBytes?: number;
}

/**
 * The user metadata of a request or response: every header except pseudo and reserved ones,
 * keys lower-cased. `-bin` values (comma-separated lists allowed) are validated as base64, padded
 * or not, and normalized to unpadded standard base64.
 * @throws RpcError INTERNAL for a malformed `-bin` value (as grpc-go), RESOURCE_EXHAUSTED above `maxBytes`.
 */
export function metadataFromHeaders(
  headers: Record<string, string | string[] | undefined>,
  options: MetadataOptions = {},
): Metadata {
  const maxBytes = options.maxBytes ?? defaultMaxMetadataBytes;
  const metadata: Metadata = new Map();
  let size = 0;
  for (const name of Object.keys(headers)) {
    const raw = headers[name];
    if (raw === undefined || isReservedHeader(name)) continue;
    const key = name.toLowerCase();
    const binary = key.endsWith("-bin");
    const list = metadata.get(key) ?? [];
    for (const value of typeof raw === "string" ? [raw] : raw) {
      if (binary) {
        for (const part of value.split(","))
          list.push(encodeBinaryHeader(decodeBinaryHeader(part.trim(), key)));
      } else {
        list.push(value);
      }
      size += key.length + value.length + headerEntryOverhead;
    }
    if (size > maxBytes) {
      throw new RpcError(Code.ResourceExhausted, `metadata larger than the limit of ${maxBytes} bytes`);
    }
    metadata.set(key, list);
  }
  return metadata;
}

const validKey = /^[0-9a-z_.-]+$/;
const validAsciiValue = /^[\x20-\x7e]*$/;

/**
 * Adds user metadata to outgoing headers. Reserved names are skipped (the protocol layer writes
 * those); `-bin` values must be base64 and are sent unpadded, as gRPC recommends.
 * @throws RpcError INTERNAL for an invalid key, a non-printable ASCII value or a malformed `-bin` value.
 */
export function appendMetadataToHeaders(target: Record<string, string | string[]>, metadata: Metadata): void {
  for (const [name, values] of metadata) {
    const key = name.toLowerCase();
    if (isReservedHeader(key) || values.length === 0) continue;
    if (!validKey.test(key)) throw new RpcError(Code.Internal, `invalid metadata key ${quotePeerText(name)}`);
    const binary = key.endsWith("-bin");
    const out: string[] = [];
    for (const value of values) {
      if (binary) out.push(encodeBinaryHeader(decodeBinaryHeader(value, key)));
      else if (validAsciiValue.test(value)) out.push(value);
      else
        throw new RpcError(
          Code.Internal,
          `metadata ${quotePeerText(key)} has a value outside printable ASCII`,
        );
    }
    const existing = target[key];
    const merged =
      existing === undefined ? out : [...(typeof existing === "string" ? [existing] : existing), ...out];
    target[key] = merged.length === 1 ? merged[0]! : merged;
  }
}

const base64Body = /^[A-Za-z0-9+/_-]*$/;

/**
 * Decodes a `-bin` header value: standard or URL-safe base64, padded or not.
 * @throws RpcError INTERNAL when the value is not base64.
 */
export function decodeBinaryHeader(value: string, name = "-bin header"): Buffer {
  let end = value.length;
  while (end > 0 && value.charCodeAt(end - 1) === 0x3d /* = */) end--;
  const padding = value.length - end;
  const body = end === value.length ? value : value.slice(0, end);
  if (
    padding > 2 ||
    body.length % 4 === 1 ||
    (padding > 0 && (body.length + padding) % 4 !== 0) ||
    !base64Body.test(body)
  ) {
    throw new RpcError(Code.Internal, `malformed base64 in ${quotePeerText(name)}`);
  }
  return Buffer.from(body, "base64");
}

/** Encodes bytes for a `-bin` header: standard base64 without padding. */
export function encodeBinaryHeader(bytes: Uint8Array): string {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = b.toString("base64");
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0x3d) end--;
  return end === text.length ? text : text.slice(0, end);
}
