import { Code, httpStatusFromCode } from "../wire/code.ts";
import { type Metadata, RpcError } from "../wire/rpc-error.ts";
import { encodeErrorJson } from "./error-json.ts";
import { acceptEncodingValue, headerCache, mergeMetadata, safeMetadata, withMetadata } from "./headers.ts";
import type { ProtocolWriter } from "./protocol-writer.ts";
import type { IncomingHeaders } from "./request-head.ts";
import type { OutgoingHeaders } from "./response-sink.ts";

/*
 * Triple unary (dubbo-go's triple protocol, dubbo-js's and Connect's unary): the body is the raw
 * message, the response status 200 with the request's content-type; trailers travel as headers
 * prefixed `Trailer-`. An error is the mapped HTTP status with a JSON body (see error-json.ts).
 */

/** Triple unary trailers travel as response headers with this prefix. @internal */
export const unaryTrailerPrefix = "trailer-";

/** The response head of a successful triple unary call, one shared object per content-type. @internal */
export const tripleResponseHeaders = headerCache((contentType) => ({ "content-type": contentType }));

const errorHeaders: OutgoingHeaders = Object.freeze({
  "content-type": "application/json",
}) as OutgoingHeaders;
const unimplementedHeaders: OutgoingHeaders = Object.freeze({
  "content-type": "application/json",
  "accept-encoding": acceptEncodingValue,
}) as OutgoingHeaders;

/** Triple unary, content-types `application/json` and `application/proto`. Unary methods only. @internal */
export const tripleUnaryWriter: ProtocolWriter = {
  protocol: "triple",
  malformedCode: Code.InvalidArgument,
  writeUnary(sink, type, message, headers, trailers) {
    const head = withMetadata(
      withMetadata(tripleResponseHeaders(type.responseType), headers),
      trailers,
      unaryTrailerPrefix,
    );
    const body = Buffer.isBuffer(message)
      ? message
      : Buffer.from(message.buffer, message.byteOffset, message.byteLength);
    sink.respond(200, head, body, undefined);
  },
  startStream() {
    throw notStreaming();
  },
  writeMessage() {
    throw notStreaming();
  },
  endStream() {
    throw notStreaming();
  },
  writeError(sink, _type, error, headers, trailers) {
    const base = error.code === Code.Unimplemented ? unimplementedHeaders : errorHeaders;
    const head = withMetadata(
      withMetadata(base, mergeMetadata(headers, error.metadata), "", true),
      trailers,
      unaryTrailerPrefix,
      true,
    );
    sink.respond(httpStatusFromCode(error.code), head, encodeErrorJson(error), undefined);
  },
};

// The server sends a streaming method's unary content-type a 415 before a writer is picked.
function notStreaming(): RpcError {
  return new RpcError(Code.Internal, "triple unary content-types carry unary calls only");
}

/**
 * Reads a triple unary response head as the writer above builds it: the header metadata and the
 * trailer metadata (the `trailer-` headers, prefix removed).
 * @internal
 */
export function splitUnaryTrailers(headers: IncomingHeaders): [header: Metadata, trailer: Metadata] {
  const plain: IncomingHeaders = {};
  const trailers: IncomingHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(unaryTrailerPrefix)) trailers[name.slice(unaryTrailerPrefix.length)] = value;
    else plain[name] = value;
  }
  return [safeMetadata(plain), safeMetadata(trailers)];
}
