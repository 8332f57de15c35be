import { Code, grpcCodeName, isCode } from "./code.ts";

/** Metadata as it travels: lower-case keys, one or more values; `-bin` values are base64 text (see metadata.ts). */
export type Metadata = Map<string, string[]>;

export interface RpcErrorOptions {
  metadata?: Metadata;
  cause?: unknown;
  /** Raw `grpc-status-details-bin` (a serialized google.rpc.Status), kept as received. */
  details?: Uint8Array;
}

/**
 * The one error type of this library: every failure on the wire, in a handler or in a
 * client call is an `RpcError` carrying a gRPC status code.
 */
export class RpcError extends Error {
  readonly code: Code;
  /** The message without the `[code]` prefix that `message` carries. */
  readonly rawMessage: string;
  readonly metadata: Metadata;
  readonly details: Uint8Array | undefined;

  constructor(code: Code, message: string, options: RpcErrorOptions = {}) {
    super(message === "" ? `[${grpcCodeName(code)}]` : `[${grpcCodeName(code)}] ${message}`, {
      cause: options.cause,
    });
    this.name = "RpcError";
    this.code = code;
    this.rawMessage = message;
    this.metadata = options.metadata ?? new Map();
    this.details = options.details;
  }

  /**
   * Turns anything thrown into an `RpcError`: an `RpcError` is returned as is, an abort becomes
   * CANCELLED or DEADLINE_EXCEEDED, everything else UNKNOWN (or `fallback`) with the original as cause.
   */
  static from(reason: unknown, fallback: Code = Code.Unknown): RpcError {
    if (reason instanceof RpcError) return reason;
    if (reason instanceof Error) {
      if (reason.name === "TimeoutError")
        return new RpcError(Code.DeadlineExceeded, reason.message, { cause: reason });
      if (reason.name === "AbortError") return new RpcError(Code.Canceled, reason.message, { cause: reason });
      const code = (reason as { code?: unknown }).code;
      return new RpcError(isCode(code) && code !== Code.Ok ? code : fallback, reason.message, {
        cause: reason,
      });
    }
    return new RpcError(fallback, String(reason), { cause: reason });
  }
}
