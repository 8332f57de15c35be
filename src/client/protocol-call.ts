import { gzipSync } from "node:zlib";
import type { CodecName } from "../codec/message-codec.ts";
import type { ContentTypeInfo } from "../protocol/content-type.ts";
import { requestHeaders } from "../protocol/request-head.ts";
import type { OutgoingHeaders } from "../protocol/response-sink.ts";
import { Code } from "../wire/code.ts";
import { type Compression, findCompression, identity } from "../wire/compression.ts";
import { type Envelope, EnvelopeFlag } from "../wire/envelope.ts";
import { encodeEnvelope } from "../wire/envelope-encoder.ts";
import { readAll } from "../wire/read-all.ts";
import { type Metadata, RpcError } from "../wire/rpc-error.ts";
import { type CallOptions, decodeResponse, type MethodRef, toMetadata } from "./call-options.ts";
import { type CallTrace, messageJson } from "./call-trace.ts";
import type { HttpResponse, HttpTransport } from "./http-transport.ts";

/** What the protocol functions need from the client that runs them. @internal */
export interface CallEnv {
  readonly transport: HttpTransport;
  readonly codec: CodecName;
  readonly userAgent: string;
  readonly maxMessageBytes: number;
  /** URL path prefix (without a trailing slash), usually empty. */
  readonly pathPrefix: string;
  /** Metadata sent on every call, before the call's own. */
  readonly metadata: Metadata;
  readonly trace: CallTrace | undefined;
  /** gRPC: gzip each request message (the envelope's compressed flag, `grpc-encoding: gzip`). */
  readonly gzipRequests?: boolean;
}

/** One wire protocol's way of making unary and server-streaming calls. @internal */
export interface ProtocolCalls {
  unary<I extends object, O extends object>(
    env: CallEnv,
    method: MethodRef<I, O>,
    request: I,
    options: CallOptions,
  ): Promise<O>;
  serverStream<I extends object, O extends object>(
    env: CallEnv,
    method: MethodRef<I, O>,
    request: I,
    options: CallOptions,
  ): AsyncGenerator<O, void, undefined>;
}

/** The request head of one call of `type`: the client's metadata, then the call's own. @internal */
export function callHeaders(env: CallEnv, options: CallOptions, type: ContentTypeInfo): OutgoingHeaders {
  return requestHeaders(type, env.userAgent, options.timeoutMs, env.metadata, toMetadata(options.metadata));
}

/** Reads a whole response body, refusing more than `maxBytes` (RESOURCE_EXHAUSTED) before buffering it. @internal */
export function readResponseBody(body: AsyncIterable<Buffer>, maxBytes: number): Promise<Buffer> {
  return readAll(
    body,
    maxBytes,
    () => new RpcError(Code.ResourceExhausted, `response body larger than the limit of ${maxBytes} bytes`),
  );
}

/**
 * Encodes `request` as one envelope, traces it and sends it to `method`'s path: how every enveloped call
 * (gRPC, and Connect streaming) begins.
 * @internal
 */
export function sendEnvelopedRequest<I extends object>(
  env: CallEnv,
  method: MethodRef<I, object>,
  request: I,
  headers: Record<string, string | string[]>,
  signal: AbortSignal,
): Promise<HttpResponse> {
  let payload: Uint8Array = method.input.encode(request, env.codec);
  // Synchronous: a request message is small (a health check's is a service name), and this is the only
  // place a client compresses.
  const flags = env.gzipRequests === true ? EnvelopeFlag.Compressed : 0;
  if (flags !== 0) payload = gzipSync(payload);
  env.trace?.({
    type: "request-message",
    flags,
    message: request,
    json: messageJson(method.input, request),
  });
  return env.transport.request(
    {
      path: `${env.pathPrefix}/${method.service}/${method.method}`,
      headers,
      body: encodeEnvelope(flags, payload),
      signal,
    },
    env.trace,
  );
}

/**
 * The compression of the response messages, named by `name` (the value of the protocol's encoding
 * header, undefined without one).
 * @throws RpcError INTERNAL for an encoding this client does not support (it never asked for one).
 * @internal
 */
export function responseCompression(name: string | undefined): Compression {
  try {
    return findCompression(name);
  } catch (cause) {
    throw new RpcError(Code.Internal, (cause as RpcError).rawMessage, { cause });
  }
}

/**
 * The payload of a response envelope, inflated when its flag says so; `encodingHeader` names the
 * header that should have said how, for the error when none did.
 * @internal
 */
export async function envelopePayload(
  envelope: Envelope,
  compression: Compression,
  maxMessageBytes: number,
  encodingHeader: string,
): Promise<Uint8Array> {
  if ((envelope.flags & EnvelopeFlag.Compressed) === 0) return envelope.payload;
  if (compression === identity) {
    throw new RpcError(Code.Internal, `compressed message without a ${encodingHeader}`);
  }
  return compression.decompress(envelope.payload, maxMessageBytes);
}

/** Decodes one response message of an envelope and traces it. @internal */
export function decodeEnvelopeMessage<O extends object>(
  env: CallEnv,
  method: MethodRef<object, O>,
  envelope: Envelope,
  bytes: Uint8Array,
): O {
  const message = decodeResponse(method.output, bytes, env.codec);
  env.trace?.({
    type: "response-message",
    flags: envelope.flags,
    length: envelope.payload.length,
    message,
    json: messageJson(method.output, message),
  });
  return message;
}
