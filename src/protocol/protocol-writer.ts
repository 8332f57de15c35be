import type { Code } from "../wire/code.ts";
import type { Metadata, RpcError } from "../wire/rpc-error.ts";
import type { ContentTypeInfo, ProtocolKind } from "./content-type.ts";
import type { ResponseSink } from "./response-sink.ts";

/**
 * How one protocol answers a call: its response headers, message framing, errors and trailers.
 * Implementations are stateless constants (one per protocol); the per-call state is the sink and
 * the content-type. Messages are already serialized by the codec.
 * @internal
 */
export interface ProtocolWriter {
  readonly protocol: ProtocolKind;
  /** The code for a request message the codec cannot read: INTERNAL for gRPC, INVALID_ARGUMENT for triple. */
  readonly malformedCode: Code;
  /** A successful unary call: one message, then the end (trailers, end-stream, or nothing). */
  writeUnary(
    sink: ResponseSink,
    type: ContentTypeInfo,
    message: Uint8Array,
    headers: Metadata | undefined,
    trailers: Metadata | undefined,
  ): void;
  /** Opens a server stream (response head). */
  startStream(sink: ResponseSink, type: ContentTypeInfo, headers: Metadata | undefined): void;
  /** One message of a server stream; false when the transport wants the caller to wait for drain. */
  writeMessage(sink: ResponseSink, type: ContentTypeInfo, message: Uint8Array): boolean;
  /** Ends a server stream with OK. */
  endStream(sink: ResponseSink, type: ContentTypeInfo, trailers: Metadata | undefined): void;
  /**
   * Ends the call with an error, in whatever form the protocol has for it at this point:
   * before the head (`sink.headersSent` false) or after messages went out.
   */
  writeError(
    sink: ResponseSink,
    type: ContentTypeInfo,
    error: RpcError,
    headers: Metadata | undefined,
    trailers: Metadata | undefined,
  ): void;
}
