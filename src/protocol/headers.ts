import { supportedEncodings } from "../wire/compression.ts";
import { appendMetadataToHeaders, metadataFromHeaders } from "../wire/metadata.ts";
import type { Metadata } from "../wire/rpc-error.ts";
import type { IncomingHeaders } from "./request-head.ts";
import type { OutgoingHeaders } from "./response-sink.ts";

/**
 * The value of every protocol's accept-encoding header (`grpc-accept-encoding`,
 * `connect-accept-encoding`, `accept-encoding`), sent by both sides.
 * @internal
 */
export const acceptEncodingValue = supportedEncodings.join(",");

/**
 * A constant header object per response content-type, so that calls without metadata reuse one
 * object instead of building one each time.
 * @internal
 */
export function headerCache(
  build: (contentType: string) => OutgoingHeaders,
): (contentType: string) => OutgoingHeaders {
  const cache = new Map<string, OutgoingHeaders>();
  return (contentType) => {
    let headers = cache.get(contentType);
    if (headers === undefined) {
      headers = Object.freeze(build(contentType)) as OutgoingHeaders;
      cache.set(contentType, headers);
    }
    return headers;
  };
}

/** True when a metadata map is absent or holds nothing. @internal */
export function isEmpty(metadata: Metadata | undefined): boolean {
  return metadata === undefined || metadata.size === 0;
}

/**
 * `base` plus metadata, as a new object; `base` itself when there is no metadata. With `prefix`,
 * every key is written prefixed (`trailer-` for triple unary trailers).
 * @throws RpcError INTERNAL for an invalid key or value, unless `lenient`, which drops them (error paths
 *   must still be able to answer).
 * @internal
 */
export function withMetadata(
  base: OutgoingHeaders,
  metadata: Metadata | undefined,
  prefix = "",
  lenient = false,
): OutgoingHeaders {
  if (metadata === undefined || metadata.size === 0) return base;
  const out: OutgoingHeaders = { ...base };
  const source = prefix === "" ? metadata : prefixed(metadata, prefix);
  if (!lenient) {
    appendMetadataToHeaders(out, source);
    return out;
  }
  for (const [key, values] of source) {
    try {
      appendMetadataToHeaders(out, new Map([[key, values]]));
    } catch {
      // A handler's malformed metadata must not keep the error itself from being sent.
    }
  }
  return out;
}

function prefixed(metadata: Metadata, prefix: string): Metadata {
  const out: Metadata = new Map();
  for (const [key, values] of metadata) out.set(prefix + key, values);
  return out;
}

/**
 * The metadata of received headers or trailers, with no size limit (the transport bounded them);
 * empty when a `-bin` value is malformed: a bad header must not hide the call's real outcome.
 * @internal
 */
export function safeMetadata(headers: IncomingHeaders): Metadata {
  try {
    return metadataFromHeaders(headers, { maxBytes: Number.POSITIVE_INFINITY });
  } catch {
    return new Map();
  }
}

/**
 * Merges metadata maps into one: values of a key add up in order, none is replaced; undefined when
 * all are empty.
 * @internal
 */
export function mergeMetadata(...list: (Metadata | undefined)[]): Metadata | undefined {
  let out: Metadata | undefined;
  for (const metadata of list) {
    if (metadata === undefined || metadata.size === 0) continue;
    if (out === undefined) {
      out = new Map(metadata);
      continue;
    }
    for (const [key, values] of metadata) out.set(key, [...(out.get(key) ?? []), ...values]);
  }
  return out;
}
