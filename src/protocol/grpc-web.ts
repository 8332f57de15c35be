import { Code } from "../wire/code.ts";
import { EnvelopeFlag } from "../wire/envelope.ts";
import { encodeEnvelope, encodeEnvelopes } from "../wire/envelope-encoder.ts";
import { type Metadata, RpcError } from "../wire/rpc-error.ts";
import type { ContentTypeInfo } from "./content-type.ts";
import { grpcErrorTrailers, grpcTrailers } from "./grpc-status.ts";
import { headerCache, withMetadata } from "./headers.ts";
import type { ProtocolWriter } from "./protocol-writer.ts";
import type { IncomingHeaders } from "./request-head.ts";
import type { OutgoingHeaders } from "./response-sink.ts";

/*
 * gRPC-Web (grpc/grpc doc/PROTOCOL-WEB.md): gRPC's framing over HTTP/1.1 or HTTP/2 without HTTP
 * trailers. The trailers travel as the last envelope of the body, flag 0x80, holding HTTP/1-style
 * header lines. `application/grpc-web-text` base64-encodes the body in both directions.
 */

/** The response head of a gRPC-Web call, one shared object per content-type. @internal */
export const grpcWebResponseHeaders = headerCache((contentType) => ({ "content-type": contentType }));

/** The payload of a trailer envelope: `name: value\r\n` lines, lower-case names. @internal */
export function encodeTrailerLines(trailers: OutgoingHeaders): Buffer {
  let text = "";
  for (const name of Object.keys(trailers)) {
    const value = trailers[name]!;
    if (typeof value === "string") text += `${name}: ${value}\r\n`;
    else for (const item of value) text += `${name}: ${item}\r\n`;
  }
  return Buffer.from(text, "latin1");
}

/**
 * Reads a trailer envelope's payload back into headers: names lower-cased, names and values
 * trimmed, a repeated name's values in order as an array; lines without a name are skipped. Bare
 * `\n` line ends are accepted as well as `\r\n`.
 * @internal
 */
export function decodeTrailerLines(payload: Uint8Array): IncomingHeaders {
  const out: Record<string, string | string[]> = {};
  const text = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString("utf8");
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const seen = out[name];
    if (seen === undefined) out[name] = value;
    else if (typeof seen === "string") out[name] = [seen, value];
    else seen.push(value);
  }
  return out;
}

const okTrailerFrame = encodeEnvelope(EnvelopeFlag.Trailers, encodeTrailerLines(grpcTrailers(undefined)));

function trailerFrame(trailers: OutgoingHeaders, ok: boolean): Buffer {
  if (ok && Object.keys(trailers).length === 1) return okTrailerFrame;
  return encodeEnvelope(EnvelopeFlag.Trailers, encodeTrailerLines(trailers));
}

function encodeBody(type: ContentTypeInfo, body: Buffer): Buffer {
  return type.text ? Buffer.from(body.toString("base64"), "latin1") : body;
}

/**
 * Decodes a gRPC-Web-Text request body: base64, possibly several padded segments back to back
 * (one per client write), whitespace ignored.
 * @throws RpcError INTERNAL when the text is not base64.
 * @internal
 */
export function decodeWebText(text: Buffer): Buffer {
  const clean = text.toString("latin1").replace(/\s+/g, "");
  // Buffer.from(…, "base64") stops at the first padding, so decode segment by segment; a padded
  // segment must be whole quads, the unpadded tail may not leave a lone character.
  const parts: Buffer[] = [];
  for (const segment of clean.match(/[^=]*=*/g) ?? []) {
    if (segment === "") continue;
    const padded = segment.endsWith("=");
    if (!base64Segment.test(segment) || (padded ? segment.length % 4 !== 0 : segment.length % 4 === 1)) {
      throw new RpcError(Code.Internal, "request body is not valid base64 (grpc-web-text)");
    }
    parts.push(Buffer.from(segment, "base64"));
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

const base64Segment = /^[A-Za-z0-9+/]+={0,2}$/;

function head(type: ContentTypeInfo, headers: Metadata | undefined, lenient = false): OutgoingHeaders {
  return withMetadata(grpcWebResponseHeaders(type.responseType), headers, "", lenient);
}

/** gRPC-Web, content-types `application/grpc-web[+proto|+json]` and `application/grpc-web-text[+proto|+json]`. @internal */
export const grpcWebWriter: ProtocolWriter = {
  protocol: "grpc-web",
  malformedCode: Code.Internal,
  writeUnary(sink, type, message, headers, trailers) {
    const status = grpcTrailers(trailers);
    const body = encodeEnvelopes([
      { flags: 0, payload: message },
      { flags: EnvelopeFlag.Trailers, payload: encodeTrailerLines(status) },
    ]);
    sink.respond(200, head(type, headers), encodeBody(type, body), undefined);
  },
  startStream(sink, type, headers) {
    sink.start(200, head(type, headers), false);
  },
  writeMessage(sink, type, message) {
    return sink.write(encodeBody(type, encodeEnvelope(0, message)));
  },
  endStream(sink, type, trailers) {
    sink.finish(encodeBody(type, trailerFrame(grpcTrailers(trailers), true)), undefined);
  },
  writeError(sink, type, error, headers, trailers) {
    const frame = encodeBody(type, trailerFrame(grpcErrorTrailers(error, trailers), false));
    if (sink.headersSent) sink.finish(frame, undefined);
    else sink.respond(200, head(type, headers, true), frame, undefined);
  },
};
