import { mediaType, requestContentType } from "../protocol/content-type.ts";
import { parseGrpcStatus } from "../protocol/grpc-status.ts";
import { safeMetadata } from "../protocol/headers.ts";
import { headerValue } from "../protocol/request-head.ts";
import { Code, codeFromHttpStatus } from "../wire/code.ts";
import { EnvelopeDecoder, EnvelopeFlag } from "../wire/envelope.ts";
import { RpcError } from "../wire/rpc-error.ts";
import { type CallOptions, CallSignal, type MethodRef } from "./call-options.ts";
import type { HttpResponse } from "./http-transport.ts";
import {
  type CallEnv,
  callHeaders,
  decodeEnvelopeMessage,
  envelopePayload,
  type ProtocolCalls,
  responseCompression,
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
    const headers = callHeaders(env, options, requestContentType("grpc", env.codec, true));
    if (env.gzipRequests === true) headers["grpc-encoding"] = "gzip";
    const response = await sendEnvelopedRequest(env, method, request, headers, call.signal);
    if (checkHead(response, env)) {
      options.onHeader?.(safeMetadata(response.headers));
      return;
    }
    options.onHeader?.(safeMetadata(response.headers));
    const compression = responseCompression(headerValue(response.headers, "grpc-encoding"));
    const decoder = new EnvelopeDecoder({
      maxMessageBytes: env.maxMessageBytes,
      allowedFlags: EnvelopeFlag.Compressed,
    });
    for await (const chunk of response.body) {
      decoder.push(chunk);
      for (let envelope = decoder.next(); envelope !== undefined; envelope = decoder.next()) {
        // One chunk holds thousands of small messages: none is delivered once the call is cancelled.
        if (call.signal.aborted) throw call.error();
        const bytes = await envelopePayload(envelope, compression, env.maxMessageBytes, "grpc-encoding");
        yield decodeEnvelopeMessage(env, method, envelope, bytes);
      }
    }
    decoder.end();
    const trailers = response.trailers();
    if (!call.signal.aborted) env.trace?.({ type: "trailers", trailers });
    const error = parseGrpcStatus(trailers);
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
  const fromHeaders = parseGrpcStatus(response.headers);
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
