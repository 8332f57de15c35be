import { Code, codeFromHttpStatus, codeFromTripleName, isCode } from "../wire/code.ts";
import { type Compression, findCompression, identity, supportedEncodings } from "../wire/compression.ts";
import { EnvelopeDecoder, EnvelopeFlag } from "../wire/envelope.ts";
import { appendMetadataToHeaders } from "../wire/metadata.ts";
import { type Metadata, RpcError } from "../wire/rpc-error.ts";
import { formatTimeoutMs } from "../wire/timeout.ts";
import { type CallOptions, CallSignal, decodeResponse, mergeMetadata, toMetadata } from "./call-options.ts";
import { messageJson } from "./call-trace.ts";
import { headerValue, type IncomingHeaders } from "./http-transport.ts";
import {
  type CallEnv,
  mediaType,
  type ProtocolCalls,
  readResponseBody,
  safeMetadata,
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
      const headers = requestHeaders(env, options, `application/${env.codec}`);
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
      const type = mediaType(response.headers);
      if (type !== `application/${env.codec}`) {
        throw new RpcError(
          Code.Internal,
          `unexpected content-type ${JSON.stringify(type)} in a triple response`,
        );
      }
      const compression = pickCompression(headerValue(response.headers, "content-encoding"));
      const bytes = compression === identity ? raw : await compression.decompress(raw, env.maxMessageBytes);
      const message = decodeResponse(method.output, bytes, env.codec);
      env.trace?.({
        type: "response-message",
        flags: undefined,
        length: raw.length,
        message,
        json: messageJson(method.output, message),
      });
      const [header, trailer] = splitTrailers(response.headers);
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
      const headers = requestHeaders(env, options, `application/connect+${env.codec}`);
      headers["connect-accept-encoding"] = supportedEncodings.join(",");
      const response = await sendEnvelopedRequest(env, method, request, headers, call.signal);
      if (response.status !== 200) {
        throw errorFromBody(
          response.status,
          response.headers,
          await readResponseBody(response.body, env.maxMessageBytes),
        );
      }
      const type = mediaType(response.headers);
      if (type !== `application/connect+${env.codec}`) {
        throw new RpcError(
          Code.Internal,
          `unexpected content-type ${JSON.stringify(type)} in a triple stream`,
        );
      }
      options.onHeader?.(safeMetadata(response.headers));
      const compression = pickCompression(headerValue(response.headers, "connect-content-encoding"));
      const decoder = new EnvelopeDecoder({
        maxMessageBytes: env.maxMessageBytes,
        allowedFlags: EnvelopeFlag.Compressed | EnvelopeFlag.EndStream,
      });
      let ended = false;
      for await (const chunk of response.body) {
        decoder.push(chunk);
        for (let envelope = decoder.next(); envelope !== undefined; envelope = decoder.next()) {
          if (ended) throw new RpcError(Code.Internal, "data after the end-stream message");
          let bytes: Uint8Array = envelope.payload;
          if ((envelope.flags & EnvelopeFlag.Compressed) !== 0) {
            if (compression === identity) {
              throw new RpcError(Code.Internal, "compressed message without a connect-content-encoding");
            }
            bytes = await compression.decompress(bytes, env.maxMessageBytes);
          }
          if ((envelope.flags & EnvelopeFlag.EndStream) !== 0) {
            const end = parseEndStream(bytes);
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
          const message = decodeResponse(method.output, bytes, env.codec);
          env.trace?.({
            type: "response-message",
            flags: envelope.flags,
            length: envelope.payload.length,
            message,
            json: messageJson(method.output, message),
          });
          yield message;
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

function requestHeaders(
  env: CallEnv,
  options: CallOptions,
  contentType: string,
): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {
    "content-type": contentType,
    "connect-protocol-version": "1",
    "user-agent": env.userAgent,
  };
  if (options.timeoutMs !== undefined) {
    // connect-go/connect-es read Connect-Timeout-Ms, dubbo-go's triple reads Triple-Timeout-Ms; ours reads both.
    const value = formatTimeoutMs(options.timeoutMs);
    headers["connect-timeout-ms"] = value;
    headers["triple-timeout-ms"] = value;
  }
  appendMetadataToHeaders(headers, mergeMetadata(env.metadata, toMetadata(options.metadata)));
  return headers;
}

function pickCompression(name: string | undefined): Compression {
  try {
    return findCompression(name);
  } catch (cause) {
    throw new RpcError(Code.Internal, (cause as RpcError).rawMessage, { cause });
  }
}

/** Unary responses carry trailers as `trailer-` prefixed headers. */
function splitTrailers(headers: IncomingHeaders): [Metadata, Metadata] {
  const plain: IncomingHeaders = {};
  const trailers: IncomingHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith("trailer-")) trailers[name.slice(8)] = value;
    else plain[name] = value;
  }
  return [safeMetadata(plain), safeMetadata(trailers)];
}

/** The error of a JSON error object: string `code` (Connect, dubbo-go) or numeric `status` (dubbo-js). */
function errorFromJson(value: unknown, fallback: Code, metadata: Metadata): RpcError | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const object = value as { code?: unknown; status?: unknown; message?: unknown };
  let code: Code | undefined;
  if (typeof object.code === "string") code = codeFromTripleName(object.code);
  else if (isCode(object.code)) code = object.code;
  if (code === undefined && isCode(object.status)) code = object.status;
  if (code === Code.Ok) code = undefined;
  const message = typeof object.message === "string" ? object.message : "";
  if (code === undefined && message === "") return undefined;
  return new RpcError(code ?? fallback, message, { metadata });
}

/** A non-200 triple response: the JSON error body when there is one, else the code for the HTTP status. */
function errorFromBody(status: number, headers: IncomingHeaders, body: Buffer): RpcError {
  const fallback = codeFromHttpStatus(status);
  const [header, trailer] = splitTrailers(headers);
  const metadata = mergeMetadata(header, trailer);
  if (mediaType(headers) === "application/json" && body.length > 0) {
    try {
      const error = errorFromJson(JSON.parse(body.toString("utf8")), fallback, metadata);
      if (error !== undefined) return error;
    } catch {
      // not JSON: fall back on the HTTP status
    }
  }
  return new RpcError(fallback, `HTTP status ${status}`, { metadata });
}

/** Parses the end-stream message `{"error":{...},"metadata":{"k":["v"]}}`. */
function parseEndStream(bytes: Uint8Array): { error?: RpcError; metadata: Metadata; json: unknown } {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (cause) {
    throw new RpcError(Code.Internal, "invalid end-stream message: not JSON", { cause });
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new RpcError(Code.Internal, "invalid end-stream message: not an object");
  }
  const metadata: Metadata = new Map();
  const rawMetadata = (json as { metadata?: unknown }).metadata;
  if (typeof rawMetadata === "object" && rawMetadata !== null) {
    for (const [key, values] of Object.entries(rawMetadata)) {
      if (Array.isArray(values)) metadata.set(key.toLowerCase(), values.map(String));
    }
  }
  const rawError = (json as { error?: unknown }).error;
  if (rawError === undefined || rawError === null) return { metadata, json };
  return {
    error: errorFromJson(rawError, Code.Unknown, metadata) ?? new RpcError(Code.Unknown, "", { metadata }),
    metadata,
    json,
  };
}
