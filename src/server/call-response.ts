import type { MessageCodec } from "../codec/message-codec.ts";
import type { ContentTypeInfo } from "../protocol/content-type.ts";
import type { ProtocolWriter } from "../protocol/protocol-writer.ts";
import { Code } from "../wire/code.ts";
import { type Metadata, RpcError } from "../wire/rpc-error.ts";
import type { Exchange } from "./exchange.ts";

// What a call's answer is made of, the same for the full call (ServerCall) and a held stream (HeldCall).

/** Whose trailers: the owner's one bit a call's answer depends on. @internal */
export interface ClosingOwner {
  /** True while the server closes: answers then carry dubbo-go's `closing: true` trailer. */
  readonly closing: boolean;
}

/**
 * The trailers a call answers with: the handler's, plus dubbo-go's graceful-shutdown attachment while the
 * owner closes (dubbo-go's provider filter adds `closing: "true"` to each result, which its triple layer
 * writes as a trailer: HTTP/2 trailer, gRPC-Web trailer frame, triple `Trailer-Closing`).
 * @internal
 */
export function callTrailers(owner: ClosingOwner, trailers: Metadata | undefined): Metadata | undefined {
  if (!owner.closing) return trailers;
  const withClosing: Metadata = trailers ?? new Map();
  withClosing.set("closing", ["true"]);
  return withClosing;
}

/** One response message in the call's codec, or the INTERNAL error for a message the codec refuses. @internal */
export function encodeResponse(
  output: MessageCodec<object>,
  type: ContentTypeInfo,
  message: object,
): Uint8Array | RpcError {
  try {
    return output.encode(message, type.codec);
  } catch (cause) {
    const text = cause instanceof Error ? cause.message : String(cause);
    return new RpcError(Code.Internal, `cannot encode the response: ${text}`, { cause });
  }
}

/**
 * Writes one encoded message of a server stream, the response head first when it has not gone out: true when
 * the transport took it, false when it pushed back. What the writer throws comes out as an INTERNAL RpcError.
 * @internal
 */
export function writeStreamMessage(
  exchange: Exchange,
  writer: ProtocolWriter,
  type: ContentTypeInfo,
  responseMetadata: Metadata | undefined,
  bytes: Uint8Array,
): boolean {
  try {
    if (!exchange.headersSent) writer.startStream(exchange, type, responseMetadata);
    return writer.writeMessage(exchange, type, bytes);
  } catch (cause) {
    throw RpcError.from(cause, Code.Internal);
  }
}
