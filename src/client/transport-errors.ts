import http2 from "node:http2";
import { Code } from "../wire/code.ts";
import { RpcError } from "../wire/rpc-error.ts";

const {
  NGHTTP2_NO_ERROR,
  NGHTTP2_REFUSED_STREAM,
  NGHTTP2_CANCEL,
  NGHTTP2_ENHANCE_YOUR_CALM,
  NGHTTP2_INADEQUATE_SECURITY,
} = http2.constants;

/** Marks an `RpcError` raised while establishing the connection (not during a call). */
const connectFailureTag: unique symbol = Symbol("triple-health.connect-failure");

/**
 * UNAVAILABLE for a connection that could not be established; `cause` is the socket error or the timeout.
 * @internal
 */
export function connectFailure(origin: string, cause: unknown): RpcError {
  const timedOut = (cause as { name?: unknown } | undefined)?.name === "TimeoutError";
  const detail = timedOut ? "timed out" : cause instanceof Error ? cause.message : String(cause);
  const error = new RpcError(Code.Unavailable, `failed to connect to ${origin}: ${detail}`, { cause });
  Object.defineProperty(error, connectFailureTag, { value: timedOut ? "timeout" : "error" });
  return error;
}

/**
 * Whether an error comes from establishing the connection (refused, unreachable, TLS handshake,
 * connect timeout) rather than from the call: `"timeout"`, `"error"`, or undefined.
 */
export function connectFailureKind(error: unknown): "timeout" | "error" | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  return (error as { [connectFailureTag]?: "timeout" | "error" })[connectFailureTag];
}

/** Maps an HTTP/2 stream failure to gRPC's codes for RST_STREAM (PROTOCOL-HTTP2.md, "Errors"). @internal */
export function transportError(cause: Error | undefined, rstCode: number | undefined): RpcError {
  if (cause instanceof RpcError) return cause;
  const message = cause?.message ?? `stream closed with error code ${rstCode ?? "unknown"}`;
  switch (rstCode) {
    case NGHTTP2_REFUSED_STREAM:
      return new RpcError(Code.Unavailable, `stream refused: ${message}`, { cause });
    case NGHTTP2_CANCEL:
      return new RpcError(Code.Canceled, message, { cause });
    case NGHTTP2_ENHANCE_YOUR_CALM:
      return new RpcError(Code.ResourceExhausted, message, { cause });
    case NGHTTP2_INADEQUATE_SECURITY:
      return new RpcError(Code.PermissionDenied, message, { cause });
    case undefined:
    case NGHTTP2_NO_ERROR:
      return new RpcError(Code.Unavailable, message, { cause });
    default:
      return new RpcError(Code.Internal, message, { cause });
  }
}
