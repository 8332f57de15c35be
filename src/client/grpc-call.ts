import { Code, codeFromHttpStatus, isCode } from "../wire/code.ts";
import { type Compression, findCompression, identity, supportedEncodings } from "../wire/compression.ts";
import { EnvelopeDecoder, EnvelopeFlag } from "../wire/envelope.ts";
import { decodeGrpcMessage } from "../wire/grpc-message.ts";
import { appendMetadataToHeaders, decodeBinaryHeader } from "../wire/metadata.ts";
import { RpcError } from "../wire/rpc-error.ts";
import { formatGrpcTimeout } from "../wire/timeout.ts";
import {
  type CallOptions,
  CallSignal,
  decodeResponse,
  type MethodRef,
  mergeMetadata,
  toMetadata,
} from "./call-options.ts";
import { messageJson } from "./call-trace.ts";
import { type HttpResponse, headerValue, type IncomingHeaders } from "./http-transport.ts";
import {
  type CallEnv,
  mediaType,
  type ProtocolCalls,
  safeMetadata,
  sendEnvelopedRequest,
} from "./protocol-call.ts";

/**
 * gRPC over HTTP/2 (grpc/grpc doc/PROTOCOL-HTTP2.md): `application/grpc+proto|json`, one enveloped
 * request message, enveloped response messages, the status in trailers (or Trailers-Only headers).
 * @internal
 */
export const grpcCalls: ProtocolCalls = {
  async unary(env, method, request, options) {
    let result: Awaited<ReturnType<typeof method.output.decode>> | undefined;
    let count = 0;
    for await (const message of grpcStream(env, method, request, options)) {
      count++;
      result = message;
    }
    if (count !== 1 || result === undefined) {
      throw new RpcError(Code.Internal, `unary response carried ${count} messages, want exactly 1`);
    }
    return result;
  },
  serverStream: grpcStream,
};

async function* grpcStream<I extends object, O extends object>(
  env: CallEnv,
  method: MethodRef<I, O>,
  request: I,
  options: CallOptions,
): AsyncGenerator<O, void, undefined> {
  const call = new CallSignal(options.signal, options.timeoutMs);
  try {
    const headers: Record<string, string | string[]> = {
      "content-type": `application/grpc+${env.codec}`,
      te: "trailers",
      "user-agent": env.userAgent,
      "grpc-accept-encoding": supportedEncodings.join(","),
    };
    if (options.timeoutMs !== undefined) headers["grpc-timeout"] = formatGrpcTimeout(options.timeoutMs);
    appendMetadataToHeaders(headers, mergeMetadata(env.metadata, toMetadata(options.metadata)));
    const response = await sendEnvelopedRequest(env, method, request, headers, call.signal);
    if (checkHead(response, env)) {
      options.onHeader?.(safeMetadata(response.headers));
      return;
    }
    options.onHeader?.(safeMetadata(response.headers));
    const compression = responseCompression(response.headers);
    const decoder = new EnvelopeDecoder({
      maxMessageBytes: env.maxMessageBytes,
      allowedFlags: EnvelopeFlag.Compressed,
    });
    for await (const chunk of response.body) {
      decoder.push(chunk);
      for (let envelope = decoder.next(); envelope !== undefined; envelope = decoder.next()) {
        let bytes: Uint8Array = envelope.payload;
        if ((envelope.flags & EnvelopeFlag.Compressed) !== 0) {
          if (compression === identity) {
            throw new RpcError(Code.Internal, "compressed message without a grpc-encoding");
          }
          bytes = await compression.decompress(bytes, env.maxMessageBytes);
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
    const trailers = response.trailers();
    if (!call.signal.aborted) env.trace?.({ type: "trailers", trailers });
    const error = statusError(trailers);
    if (error === "missing")
      throw new RpcError(Code.Internal, "response ended without a grpc-status trailer");
    if (error !== undefined) throw error;
    options.onTrailer?.(safeMetadata(trailers));
  } catch (error) {
    throw call.translate(error);
  } finally {
    call.dispose();
  }
}

/**
 * Checks the response head. Returns true for a successful Trailers-Only response (no messages will
 * follow); throws for an error status, a non-200 HTTP status or a non-gRPC content-type.
 */
function checkHead(response: HttpResponse, env: CallEnv): boolean {
  const fromHeaders = statusError(response.headers);
  if (response.status !== 200) {
    if (fromHeaders instanceof RpcError) throw fromHeaders;
    throw new RpcError(codeFromHttpStatus(response.status), `HTTP status ${response.status}`, {
      metadata: safeMetadata(response.headers),
    });
  }
  if (fromHeaders instanceof RpcError) throw fromHeaders;
  const type = mediaType(response.headers);
  if (type !== "application/grpc" && !type.startsWith("application/grpc+")) {
    throw new RpcError(Code.Unknown, `unexpected content-type ${JSON.stringify(type)} in a gRPC response`);
  }
  if (type !== "application/grpc" && type !== `application/grpc+${env.codec}`) {
    throw new RpcError(Code.Internal, `response codec ${type} does not match the request's ${env.codec}`);
  }
  // grpc-status in the headers: a Trailers-Only response.
  if (fromHeaders === undefined) {
    env.trace?.({ type: "trailers", trailers: response.headers });
    return true;
  }
  return false;
}

function responseCompression(headers: IncomingHeaders): Compression {
  try {
    return findCompression(headerValue(headers, "grpc-encoding"));
  } catch (cause) {
    throw new RpcError(Code.Internal, (cause as RpcError).rawMessage, { cause });
  }
}

/** The error a set of trailers describes: undefined for OK, "missing" without grpc-status. */
function statusError(headers: IncomingHeaders): RpcError | undefined | "missing" {
  const status = headerValue(headers, "grpc-status");
  if (status === undefined) return "missing";
  const code = /^\d+$/.test(status.trim()) ? Number(status) : Number.NaN;
  if (code === Code.Ok) return undefined;
  const message = decodeGrpcMessage(headerValue(headers, "grpc-message") ?? "");
  const metadata = safeMetadata(headers);
  let details: Uint8Array | undefined;
  const detailsValue = headerValue(headers, "grpc-status-details-bin");
  if (detailsValue !== undefined) {
    try {
      details = decodeBinaryHeader(detailsValue);
    } catch {
      details = undefined;
    }
  }
  if (!isCode(code)) {
    return new RpcError(Code.Unknown, `invalid grpc-status ${JSON.stringify(status)}: ${message}`, {
      metadata,
    });
  }
  return new RpcError(code, message, { metadata, details });
}
