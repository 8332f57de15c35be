import { Code, httpStatusFromCode } from "../wire/code.ts";
import { supportedEncodings } from "../wire/compression.ts";
import { RpcError } from "../wire/rpc-error.ts";
import { encodeErrorJson } from "./error-json.ts";
import { headerCache, mergeMetadata, withMetadata } from "./headers.ts";
import type { ProtocolWriter } from "./protocol-writer.ts";
import type { OutgoingHeaders } from "./response-sink.ts";

/*
 * Triple unary (dubbo-go's triple protocol, dubbo-js's and Connect's unary): the body is the raw
 * message, the response status 200 with the request's content-type; trailers travel as headers
 * prefixed `Trailer-`. An error is the mapped HTTP status with a JSON body (see error-json.ts).
 */

/** The response head of a successful triple unary call, one shared object per content-type. @internal */
export const tripleResponseHeaders = headerCache((contentType) => ({ "content-type": contentType }));

const errorHeaders: OutgoingHeaders = Object.freeze({
  "content-type": "application/json",
}) as OutgoingHeaders;
const unimplementedHeaders: OutgoingHeaders = Object.freeze({
  "content-type": "application/json",
  "accept-encoding": supportedEncodings.join(","),
}) as OutgoingHeaders;

/** Triple unary, content-types `application/json` and `application/proto`. Unary methods only. @internal */
export const tripleUnaryWriter: ProtocolWriter = {
  protocol: "triple",
  malformedCode: Code.InvalidArgument,
  writeUnary(sink, type, message, headers, trailers) {
    const head = withMetadata(
      withMetadata(tripleResponseHeaders(type.responseType), headers),
      trailers,
      "trailer-",
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
      "trailer-",
      true,
    );
    sink.respond(httpStatusFromCode(error.code), head, encodeErrorJson(error), undefined);
  },
};

// The server sends a streaming method's unary content-type a 415 before a writer is picked.
function notStreaming(): RpcError {
  return new RpcError(Code.Internal, "triple unary content-types carry unary calls only");
}
