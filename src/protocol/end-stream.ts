import { Code } from "../wire/code.ts";
import { type Metadata, RpcError } from "../wire/rpc-error.ts";
import { type ErrorJson, errorFromJson, errorToJson } from "./error-json.ts";

/*
 * The end-stream message of triple/Connect streaming (envelope flag 0x02), both directions:
 * `{"error":{…},"metadata":{"key":["value"]}}`, each part present only when there is one. It
 * carries the call's status and trailers; the HTTP status stays 200.
 */

/** The end-stream message of a call: its error (none for OK) and its trailer metadata. @internal */
export function encodeEndStreamJson(error: RpcError | undefined, metadata: Metadata | undefined): Buffer {
  const out: { error?: ErrorJson; metadata?: Record<string, string[]> } = {};
  if (error !== undefined) out.error = errorToJson(error);
  if (metadata !== undefined && metadata.size > 0) {
    const record: Record<string, string[]> = {};
    for (const [key, values] of metadata) record[key] = values;
    out.metadata = record;
  }
  return Buffer.from(JSON.stringify(out));
}

/** An end-stream message as read. @internal */
export interface EndStream {
  /** The call's error; undefined for OK. */
  readonly error: RpcError | undefined;
  /** The trailer metadata (keys lower-cased), also attached to `error`. */
  readonly metadata: Metadata;
  /** The parsed JSON, for tracing. */
  readonly json: unknown;
}

/**
 * Reads an end-stream message. Metadata values that are not arrays are skipped; an `error` that
 * names no code is UNKNOWN.
 * @throws RpcError INTERNAL when the payload is not a JSON object.
 * @internal
 */
export function decodeEndStreamJson(bytes: Uint8Array): EndStream {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"));
  } catch (cause) {
    throw new RpcError(Code.Internal, "invalid end-stream message: not JSON", { cause });
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new RpcError(Code.Internal, "invalid end-stream message: not an object");
  }
  const metadata: Metadata = new Map();
  const rawMetadata = (json as { metadata?: unknown }).metadata;
  if (typeof rawMetadata === "object" && rawMetadata !== null) {
    for (const [key, values] of Object.entries(rawMetadata)) {
      if (Array.isArray(values)) metadata.set(key.toLowerCase(), values.map(String));
    }
  }
  const rawError = (json as { error?: unknown }).error;
  if (rawError === undefined || rawError === null) return { error: undefined, metadata, json };
  const error =
    errorFromJson(rawError, Code.Unknown, metadata) ?? new RpcError(Code.Unknown, "", { metadata });
  return { error, metadata, json };
}
