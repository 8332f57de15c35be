import { Code } from "../wire/code.ts";
import { supportedEncodings } from "../wire/compression.ts";
import { encodeEnvelope, envelopeChunks } from "../wire/envelope-encoder.ts";
import { encodeGrpcMessage } from "../wire/grpc-message.ts";
import { encodeBinaryHeader } from "../wire/metadata.ts";
import type { Metadata, RpcError } from "../wire/rpc-error.ts";
import { headerCache, isEmpty, withMetadata } from "./headers.ts";
import type { ProtocolWriter } from "./protocol-writer.ts";
import type { OutgoingHeaders, ResponseSink } from "./response-sink.ts";

/*
 * gRPC over HTTP/2 (grpc/grpc doc/PROTOCOL-HTTP2.md): response headers, length-prefixed messages,
 * then trailers that always carry grpc-status. An error before any message is Trailers-Only: one
 * HEADERS frame with :status 200, the content-type and grpc-status, ending the stream.
 */

const acceptEncoding = supportedEncodings.join(",");

/** The response head of a gRPC call, one shared object per content-type. @internal */
export const grpcResponseHeaders = headerCache((contentType) => ({ "content-type": contentType }));

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
  if (error.code === Code.Unimplemented) out["grpc-accept-encoding"] = acceptEncoding;
  const withError = withMetadata(out, error.metadata, "", true);
  return withMetadata(withError, trailers, "", true);
}

/** Trailers of an OK end with the call's trailer metadata. @internal */
export function grpcTrailers(trailers: Metadata | undefined): OutgoingHeaders {
  return isEmpty(trailers) ? grpcOkTrailers : withMetadata({ "grpc-status": "0" }, trailers);
}

/** gRPC, content-types `application/grpc`, `+proto`, `+json`. @internal */
export const grpcWriter: ProtocolWriter = {
  protocol: "grpc",
  malformedCode: Code.Internal,
  writeUnary(sink, type, message, headers, trailers) {
    sink.respond(
      200,
      withMetadata(grpcResponseHeaders(type.responseType), headers),
      encodeEnvelope(0, message),
      grpcTrailers(trailers),
    );
  },
  startStream(sink, type, headers) {
    sink.start(200, withMetadata(grpcResponseHeaders(type.responseType), headers), true);
  },
  writeMessage(sink, _type, message) {
    return writeEnvelope(sink, message);
  },
  endStream(sink, _type, trailers) {
    sink.finish(undefined, grpcTrailers(trailers));
  },
  writeError(sink, type, error, headers, trailers) {
    const status = grpcErrorTrailers(error, trailers);
    if (sink.headersSent) {
      sink.finish(undefined, status);
      return;
    }
    // Trailers-Only: content-type and the status in the one HEADERS frame.
    const head = withMetadata({ "content-type": type.responseType, ...status }, headers, "", true);
    sink.respond(200, head, undefined, undefined);
  },
};

/** Writes one uncompressed envelope; large payloads go by reference after their header. @internal */
export function writeEnvelope(sink: ResponseSink, message: Uint8Array): boolean {
  const chunks = envelopeChunks(0, message);
  let ok = true;
  for (const chunk of chunks) ok = sink.write(chunk);
  return ok;
}
