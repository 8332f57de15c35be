import { Code, isCode } from "../wire/code.ts";
import { decodeGrpcMessage, encodeGrpcMessage } from "../wire/grpc-message.ts";
import { decodeBinaryHeader, encodeBinaryHeader } from "../wire/metadata.ts";
import { type Metadata, RpcError } from "../wire/rpc-error.ts";
import { acceptEncodingValue, isEmpty, safeMetadata, withMetadata } from "./headers.ts";
import { headerValue, type IncomingHeaders } from "./request-head.ts";
import type { OutgoingHeaders } from "./response-sink.ts";

/*
 * The status of a gRPC call (grpc/grpc doc/PROTOCOL-HTTP2.md), both directions: `grpc-status`, the
 * percent-encoded `grpc-message` and `grpc-status-details-bin`, in HTTP/2 trailers, in a
 * Trailers-Only head, or (gRPC-Web) in the trailer envelope's header lines.
 */

/** The trailers of a successful call. @internal */
export const grpcOkTrailers: OutgoingHeaders = Object.freeze({ "grpc-status": "0" }) as OutgoingHeaders;

/**
 * The status part of gRPC trailers (also gRPC-Web's trailer frame): grpc-status, the
 * percent-encoded grpc-message, details, the error's own metadata and the call's trailer metadata.
 * Invalid metadata is dropped rather than keeping the status from being sent.
 * @internal
 */
export function grpcErrorTrailers(error: RpcError, trailers: Metadata | undefined): OutgoingHeaders {
  const out: OutgoingHeaders = { "grpc-status": String(error.code) };
  if (error.rawMessage !== "") out["grpc-message"] = encodeGrpcMessage(error.rawMessage);
  if (error.details !== undefined) out["grpc-status-details-bin"] = encodeBinaryHeader(error.details);
  // An unsupported request encoding: tell the client which ones work (gRPC's compression spec).
  if (error.code === Code.Unimplemented) out["grpc-accept-encoding"] = acceptEncodingValue;
  const withError = withMetadata(out, error.metadata, "", true);
  return withMetadata(withError, trailers, "", true);
}

/** Trailers of an OK end with the call's trailer metadata. @internal */
export function grpcTrailers(trailers: Metadata | undefined): OutgoingHeaders {
  return isEmpty(trailers) ? grpcOkTrailers : withMetadata({ "grpc-status": "0" }, trailers);
}

/**
 * Reads the status {@link grpcErrorTrailers} and {@link grpcTrailers} write: undefined for OK,
 * `"missing"` without a `grpc-status`, else the error with its message, details and the other
 * headers as metadata. A `grpc-status` that is not a known code is UNKNOWN, its text kept in the
 * message; unreadable details or `-bin` metadata are dropped rather than hiding the status.
 * @internal
 */
export function parseGrpcStatus(headers: IncomingHeaders): RpcError | undefined | "missing" {
  const status = headerValue(headers, "grpc-status");
  if (status === undefined) return "missing";
  const code = /^\d+$/.test(status.trim()) ? Number(status) : Number.NaN;
  if (code === Code.Ok) return undefined;
  const message = decodeGrpcMessage(headerValue(headers, "grpc-message") ?? "");
  const metadata = safeMetadata(headers);
  if (!isCode(code)) {
    return new RpcError(Code.Unknown, `invalid grpc-status ${JSON.stringify(status)}: ${message}`, {
      metadata,
    });
  }
  return new RpcError(code, message, { metadata, details: statusDetails(headers) });
}

function statusDetails(headers: IncomingHeaders): Uint8Array | undefined {
  const value = headerValue(headers, "grpc-status-details-bin");
  if (value === undefined) return undefined;
  try {
    return decodeBinaryHeader(value);
  } catch {
    return undefined;
  }
}
