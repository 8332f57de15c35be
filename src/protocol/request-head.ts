import { Code } from "../wire/code.ts";
import { type Compression, findCompression, identity } from "../wire/compression.ts";
import { appendMetadataToHeaders, decodeBinaryHeader } from "../wire/metadata.ts";
import { quotePeerText } from "../wire/peer-text.ts";
import { type Metadata, RpcError } from "../wire/rpc-error.ts";
import { formatGrpcTimeout, formatTimeoutMs, parseGrpcTimeout, parseTimeoutMs } from "../wire/timeout.ts";
import type { ContentTypeInfo } from "./content-type.ts";
import { acceptEncodingValue } from "./headers.ts";
import type { OutgoingHeaders } from "./response-sink.ts";

/*
 * The request head of every protocol, both directions: what a client sends (content-type, protocol
 * version, timeout, accepted encodings, metadata) and what the server reads and checks of it.
 */

/**
 * Headers as node:http2, node:http and undici hand them over, lower-case names: a request head on
 * the server, a response head or trailers on the client and the proxy.
 * @internal
 */
export type IncomingHeaders = Record<string, string | string[] | undefined>;

function single(value: string | string[] | undefined): string | undefined {
  return typeof value === "string" || value === undefined ? value : value[0];
}

/** The header naming the request message encoding, per protocol. @internal */
export function encodingHeaderName(type: ContentTypeInfo): string {
  if (type.protocol !== "triple") return "grpc-encoding";
  return type.enveloped ? "connect-content-encoding" : "content-encoding";
}

/** The header a server lists its accepted encodings in, per protocol. @internal */
export function acceptEncodingHeaderName(type: ContentTypeInfo): string {
  if (type.protocol !== "triple") return "grpc-accept-encoding";
  return type.enveloped ? "connect-accept-encoding" : "accept-encoding";
}

/**
 * The compression of the request messages, from `grpc-encoding` (gRPC, gRPC-Web),
 * `Content-Encoding` (triple unary) or `Connect-Content-Encoding` (triple streaming).
 * @throws RpcError UNIMPLEMENTED for an unsupported encoding (the protocol writers then list the
 *   accepted ones in the protocol's accept header).
 * @internal
 */
export function requestCompression(type: ContentTypeInfo, headers: IncomingHeaders): Compression {
  const name = single(headers[encodingHeaderName(type)]);
  if (name === undefined || name === "identity") return identity;
  return findCompression(name);
}

// Timeout headers of the three triple dialects, in the order they are looked for.
const tripleTimeoutHeaders = ["triple-timeout-ms", "tri-service-timeout", "connect-timeout-ms"] as const;

/**
 * The request timeout in milliseconds, or undefined without one: `grpc-timeout` for gRPC and
 * gRPC-Web, else the first of `Triple-Timeout-Ms` (dubbo-go), `TRI-Service-Timeout` (dubbo-js) and
 * `Connect-Timeout-Ms` (connect).
 * @throws RpcError INTERNAL for a malformed `grpc-timeout`, INVALID_ARGUMENT for a malformed triple one.
 * @internal
 */
export function requestTimeoutMs(type: ContentTypeInfo, headers: IncomingHeaders): number | undefined {
  if (type.protocol !== "triple") {
    const value = single(headers["grpc-timeout"]);
    return value === undefined ? undefined : parseGrpcTimeout(value);
  }
  for (const name of tripleTimeoutHeaders) {
    const value = single(headers[name]);
    if (value !== undefined) return parseTimeoutMs(value);
  }
  return undefined;
}

// Each triple dialect's version header and the one value it may carry. None is required: curl sends none.
const versionHeaders: readonly (readonly [string, string])[] = [
  ["triple-protocol-version", "0.1.0"],
  ["tri-protocol-version", "1.0.0"],
  ["connect-protocol-version", "1"],
];

/**
 * Checks the triple dialects' protocol version headers (`Triple-Protocol-Version: 0.1.0`,
 * `TRI-Protocol-Version: 1.0.0`, `Connect-Protocol-Version: 1`) when present.
 * @throws RpcError INVALID_ARGUMENT for another value, as dubbo-go and connect do.
 * @internal
 */
export function checkProtocolVersion(type: ContentTypeInfo, headers: IncomingHeaders): void {
  if (type.protocol !== "triple") return;
  for (const [name, expected] of versionHeaders) {
    const value = single(headers[name]);
    if (value !== undefined && value !== expected) {
      throw new RpcError(Code.InvalidArgument, `${name} must be "${expected}": got ${quotePeerText(value)}`);
    }
  }
}

/** A single-valued request header, the first one when it was repeated. @internal */
export function headerValue(headers: IncomingHeaders, name: string): string | undefined {
  return single(headers[name]);
}

/**
 * The request head a client sends (gRPC-Web is never sent): the content-type, gRPC's `te: trailers`
 * or triple's `Connect-Protocol-Version: 1`, the user agent, the timeout (`grpc-timeout`; for
 * triple both `Connect-Timeout-Ms` for connect and dubbo-js and `Triple-Timeout-Ms` for dubbo-go,
 * two of the three {@link requestTimeoutMs} reads), the encodings accepted for enveloped responses,
 * then the client's metadata followed by the call's (values of one key add up).
 * @throws RpcError INTERNAL for invalid metadata.
 * @internal
 */
export function requestHeaders(
  type: ContentTypeInfo,
  userAgent: string,
  timeoutMs: number | undefined,
  metadata: Metadata,
  callMetadata: Metadata,
): OutgoingHeaders {
  let headers: OutgoingHeaders;
  if (type.protocol !== "triple") {
    headers = {
      "content-type": type.responseType,
      te: "trailers",
      "user-agent": userAgent,
      "grpc-accept-encoding": acceptEncodingValue,
    };
    if (timeoutMs !== undefined) headers["grpc-timeout"] = formatGrpcTimeout(timeoutMs);
  } else {
    headers = {
      "content-type": type.responseType,
      "connect-protocol-version": "1",
      "user-agent": userAgent,
    };
    if (timeoutMs !== undefined) {
      const value = formatTimeoutMs(timeoutMs);
      headers["connect-timeout-ms"] = value;
      headers["triple-timeout-ms"] = value;
    }
  }
  appendMetadataToHeaders(headers, metadata);
  appendMetadataToHeaders(headers, callMetadata);
  if (type.protocol === "triple" && type.enveloped) headers["connect-accept-encoding"] = acceptEncodingValue;
  return headers;
}

/** What a call needs from its request head before it reads the body. @internal */
export interface RequestHead {
  readonly compression: Compression;
  /** The request timeout in milliseconds; undefined without one. */
  readonly timeoutMs: number | undefined;
}

// The head of nearly every request: no compression, no timeout. Shared, so reading it allocates nothing.
const plainHead: RequestHead = Object.freeze({ compression: identity, timeoutMs: undefined });

/**
 * Reads and checks the request head in one go, in this order: the triple version headers, the
 * request encoding, the timeout, then every `-bin` header's base64 (the only part that walks all the
 * headers, once: `rawHeaders` when the transport gave them).
 *
 * A timeout of zero (`grpc-timeout: 0n`, `Triple-Timeout-Ms: 0`, `Connect-Timeout-Ms: 0`) is a deadline
 * that has already passed: the call fails with DEADLINE_EXCEEDED here, before its body is read or its
 * handler runs, as dubbo-go and connect-go do (their handlers check the expired context first). A
 * zero-delay timer instead would race the body and usually lose, serving the call.
 * @throws RpcError as {@link checkProtocolVersion}, {@link requestCompression},
 *   {@link requestTimeoutMs} and {@link checkBinaryHeaders}; DEADLINE_EXCEEDED for a zero timeout.
 * @internal
 */
export function readRequestHead(
  type: ContentTypeInfo,
  headers: IncomingHeaders,
  rawHeaders?: readonly string[],
): RequestHead {
  checkProtocolVersion(type, headers);
  const compression = requestCompression(type, headers);
  const timeoutMs = requestTimeoutMs(type, headers);
  if (timeoutMs === 0)
    throw new RpcError(Code.DeadlineExceeded, "the call's deadline passed before it started");
  if (rawHeaders === undefined) checkBinaryHeaders(headers);
  else checkRawBinaryHeaders(rawHeaders);
  return compression === identity && timeoutMs === undefined ? plainHead : { compression, timeoutMs };
}

const lowerN = 0x6e;

/**
 * Checks that every `-bin` header is base64 up front (INTERNAL, as grpc-go), although metadata maps
 * are built lazily. `Object.keys` and a last-character test rather than `for…in` and `endsWith`: this
 * runs on every request, and almost none carries a `-bin` header.
 * @throws RpcError INTERNAL for a value that is not base64.
 * @internal
 */
export function checkBinaryHeaders(headers: IncomingHeaders): void {
  const names = Object.keys(headers);
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    if (name.charCodeAt(name.length - 1) !== lowerN || !name.endsWith("-bin")) continue;
    const value = headers[name];
    if (value === undefined) continue;
    if (typeof value === "string") checkBinaryValue(value, name);
    else for (const item of value) checkBinaryValue(item, name);
  }
}

const upperN = 0x4e;

/**
 * {@link checkBinaryHeaders} over the name/value list a transport received (node:http's `rawHeaders`,
 * node:http2's fourth `stream` argument): walking an array is much cheaper than `Object.keys` of
 * node:http2's header object, which V8 keeps in dictionary mode. HTTP/1.1 names keep their case.
 * @throws RpcError INTERNAL for a value that is not base64.
 * @internal
 */
export function checkRawBinaryHeaders(rawHeaders: readonly string[]): void {
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const raw = rawHeaders[i]!;
    const last = raw.charCodeAt(raw.length - 1);
    if (last !== lowerN && last !== upperN) continue;
    const name = raw.toLowerCase();
    if (name.endsWith("-bin")) checkBinaryValue(rawHeaders[i + 1]!, name);
  }
}

function checkBinaryValue(value: string, name: string): void {
  for (const part of value.split(",")) decodeBinaryHeader(part.trim(), name);
}
