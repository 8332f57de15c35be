import { mediaType, requestContentType } from "../protocol/content-type.ts";
import { decodeEndStreamJson } from "../protocol/end-stream.ts";
import { decodeErrorJson } from "../protocol/error-json.ts";
import { mergeMetadata, safeMetadata } from "../protocol/headers.ts";
import { headerValue, type IncomingHeaders } from "../protocol/request-head.ts";
import { splitUnaryTrailers } from "../protocol/triple-unary.ts";
import { Code, codeFromHttpStatus } from "../wire/code.ts";
import { identity } from "../wire/compression.ts";
import { EnvelopeDecoder, EnvelopeFlag } from "../wire/envelope.ts";
import { RpcError } from "../wire/rpc-error.ts";
import { CallSignal, decodeResponse } from "./call-options.ts";
import { messageJson } from "./call-trace.ts";
import {
  callHeaders,
  decodeEnvelopeMessage,
  envelopePayload,
  type ProtocolCalls,
  readResponseBody,
  responseCompression,
  sendEnvelopedRequest,
} from "./protocol-call.ts";

/**
 * Triple (the Connect protocol as dubbo-go and dubbo-js speak it): unary calls are a POST of the raw
 * message as `application/proto|json`, errors a JSON body with an HTTP status; server streams are
 * `application/connect+proto|json` envelopes closed by an end-stream (0x02) JSON message.
 * @internal
 */
export const tripleCalls: ProtocolCalls = {
  async unary(env, method, request, options) {
    const call = new CallSignal(options.signal, options.timeoutMs);
    try {
      const type = requestContentType("triple", env.codec, false);
      const headers = callHeaders(env, options, type);
      const body = method.input.encode(request, env.codec);
      env.trace?.({
        type: "request-message",
        flags: undefined,
        message: request,
        json: messageJson(method.input, request),
      });
      const response = await env.transport.request(
        { path: `${env.pathPrefix}/${method.service}/${method.method}`, headers, body, signal: call.signal },
        env.trace,
      );
      const raw = await readResponseBody(response.body, env.maxMessageBytes);
      if (response.status !== 200) throw errorFromBody(response.status, response.headers, raw);
      const responseType = mediaType(response.headers);
      if (responseType !== type.responseType) {
        throw new RpcError(
          Code.Internal,
          `unexpected content-type ${JSON.stringify(responseType)} in a triple response`,
        );
      }
      const compression = responseCompression(headerValue(response.headers, "content-encoding"));
      const bytes = compression === identity ? raw : await compression.decompress(raw, env.maxMessageBytes);
      const message = decodeResponse(method.output, bytes, env.codec);
      env.trace?.({
        type: "response-message",
        flags: undefined,
        length: raw.length,
        message,
        json: messageJson(method.output, message),
      });
      const [header, trailer] = splitUnaryTrailers(response.headers);
      options.onHeader?.(header);
      options.onTrailer?.(trailer);
      return message;
    } catch (error) {
      throw call.translate(error);
    } finally {
      call.dispose();
    }
  },

  async *serverStream(env, method, request, options) {
    const call = new CallSignal(options.signal, options.timeoutMs);
    try {
      const type = requestContentType("triple", env.codec, true);
      const headers = callHeaders(env, options, type);
      const response = await sendEnvelopedRequest(env, method, request, headers, call.signal);
      if (response.status !== 200) {
        throw errorFromBody(
          response.status,
          response.headers,
          await readResponseBody(response.body, env.maxMessageBytes),
        );
      }
      const responseType = mediaType(response.headers);
      if (responseType !== type.responseType) {
        throw new RpcError(
          Code.Internal,
          `unexpected content-type ${JSON.stringify(responseType)} in a triple stream`,
        );
      }
      options.onHeader?.(safeMetadata(response.headers));
      const compression = responseCompression(headerValue(response.headers, "connect-content-encoding"));
      const decoder = new EnvelopeDecoder({
        maxMessageBytes: env.maxMessageBytes,
        allowedFlags: EnvelopeFlag.Compressed | EnvelopeFlag.EndStream,
      });
      let ended = false;
      for await (const chunk of response.body) {
        decoder.push(chunk);
        for (let envelope = decoder.next(); envelope !== undefined; envelope = decoder.next()) {
          // One chunk holds thousands of small messages: none is delivered once the call is cancelled.
          if (call.signal.aborted) throw call.error();
          if (ended) throw new RpcError(Code.Internal, "data after the end-stream message");
          const bytes = await envelopePayload(
            envelope,
            compression,
            env.maxMessageBytes,
            "connect-content-encoding",
          );
          if ((envelope.flags & EnvelopeFlag.EndStream) !== 0) {
            const end = decodeEndStreamJson(bytes);
            env.trace?.({
              type: "response-message",
              flags: envelope.flags,
              length: envelope.payload.length,
              endStream: end.json,
            });
            if (end.error !== undefined) throw end.error;
            options.onTrailer?.(end.metadata);
            ended = true;
            continue;
          }
          yield decodeEnvelopeMessage(env, method, envelope, bytes);
        }
      }
      decoder.end();
      if (!ended) throw new RpcError(Code.Internal, "stream ended without an end-stream message");
    } catch (error) {
      throw call.translate(error);
    } finally {
      call.dispose();
    }
  },
};

/** A non-200 triple response: the JSON error body when there is one, else the code for the HTTP status. */
function errorFromBody(status: number, headers: IncomingHeaders, body: Buffer): RpcError {
  const fallback = codeFromHttpStatus(status);
  const [header, trailer] = splitUnaryTrailers(headers);
  const metadata = mergeMetadata(header, trailer) ?? new Map();
  if (mediaType(headers) === "application/json" && body.length > 0) {
    const error = decodeErrorJson(body, fallback, metadata);
    if (error !== undefined) return error;
  }
  return new RpcError(fallback, `HTTP status ${status}`, { metadata });
}
