import { Code } from "../wire/code.ts";
import { encodeEnvelope, envelopeChunks, envelopeCopyThreshold } from "../wire/envelope-encoder.ts";
import { grpcErrorTrailers, grpcTrailers } from "./grpc-status.ts";
import { headerCache, withMetadata } from "./headers.ts";
import type { ProtocolWriter } from "./protocol-writer.ts";
import type { ResponseSink } from "./response-sink.ts";

/*
 * gRPC over HTTP/2 (grpc/grpc doc/PROTOCOL-HTTP2.md): response headers, length-prefixed messages,
 * then trailers that always carry grpc-status. An error before any message is Trailers-Only: one
 * HEADERS frame with :status 200, the content-type and grpc-status, ending the stream. The status
 * codec is grpc-status.ts; the request head, both directions, request-head.ts.
 */

/** The response head of a gRPC call, one shared object per content-type. @internal */
export const grpcResponseHeaders = headerCache((contentType) => ({ "content-type": contentType }));

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
  // The usual small message is one write of one buffer, and no array around it.
  if (message.byteLength <= envelopeCopyThreshold) return sink.write(encodeEnvelope(0, message));
  const [header, body] = envelopeChunks(0, message);
  sink.write(header!);
  return sink.write(body!);
}
