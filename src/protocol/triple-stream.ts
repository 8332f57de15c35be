import { Code } from "../wire/code.ts";
import { EnvelopeFlag } from "../wire/envelope.ts";
import { encodeEnvelope, encodeEnvelopes } from "../wire/envelope-encoder.ts";
import type { Metadata, RpcError } from "../wire/rpc-error.ts";
import type { ContentTypeInfo } from "./content-type.ts";
import { encodeEndStreamJson } from "./end-stream.ts";
import { writeEnvelope } from "./grpc.ts";
import { acceptEncodingValue, headerCache, mergeMetadata, withMetadata } from "./headers.ts";
import type { ProtocolWriter } from "./protocol-writer.ts";
import type { OutgoingHeaders } from "./response-sink.ts";

/*
 * Triple/Connect streaming (`application/connect+proto`, `application/connect+json`), as dubbo-js
 * and connect-es send it: status 200 and envelopes both ways; the response ends with an envelope
 * flagged 0x02 whose payload is JSON `{"error":{…},"metadata":{…}}` — the status travels there,
 * never in the HTTP status, even for an error before any message.
 */

/** The response head of a triple streaming call, one shared object per content-type. @internal */
export const tripleStreamResponseHeaders = headerCache((contentType) => ({ "content-type": contentType }));

const okEndStream = encodeEnvelope(EnvelopeFlag.EndStream, encodeEndStreamJson(undefined, undefined));

function endStreamEnvelope(error: RpcError | undefined, trailers: Metadata | undefined): Buffer {
  if (error === undefined && (trailers === undefined || trailers.size === 0)) return okEndStream;
  return encodeEnvelope(EnvelopeFlag.EndStream, encodeEndStreamJson(error, trailers));
}

function head(type: ContentTypeInfo, headers: Metadata | undefined, error?: RpcError): OutgoingHeaders {
  const base = tripleStreamResponseHeaders(type.responseType);
  if (error?.code !== Code.Unimplemented) return withMetadata(base, headers, "", error !== undefined);
  return withMetadata({ ...base, "connect-accept-encoding": acceptEncodingValue }, headers, "", true);
}

/** Triple/Connect streaming; a unary method called this way is answered as a one-message stream. @internal */
export const tripleStreamWriter: ProtocolWriter = {
  protocol: "triple",
  malformedCode: Code.InvalidArgument,
  writeUnary(sink, type, message, headers, trailers) {
    const body = encodeEnvelopes([
      { flags: 0, payload: message },
      { flags: EnvelopeFlag.EndStream, payload: encodeEndStreamJson(undefined, trailers) },
    ]);
    sink.respond(200, head(type, headers), body, undefined);
  },
  startStream(sink, type, headers) {
    sink.start(200, head(type, headers), false);
  },
  writeMessage(sink, _type, message) {
    return writeEnvelope(sink, message);
  },
  endStream(sink, _type, trailers) {
    sink.finish(endStreamEnvelope(undefined, trailers), undefined);
  },
  writeError(sink, type, error, headers, trailers) {
    const end = endStreamEnvelope(error, mergeMetadata(error.metadata, trailers));
    if (sink.headersSent) sink.finish(end, undefined);
    else sink.respond(200, head(type, headers, error), end, undefined);
  },
};
