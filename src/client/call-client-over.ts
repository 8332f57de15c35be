// The call layer over a transport given to it: what createCallClient (call-client.ts) builds on, in a module
// of its own so that the probe's path (`check`) does not import the HTTP/1.1 transport and undici.
import type { CodecName } from "../codec/message-codec.ts";
import { ConfigError } from "../wire/config-error.ts";
import { defaultMaxMessageBytes } from "../wire/envelope.ts";
import { type CallOptions, type MetadataInit, type MethodRef, toMetadata } from "./call-options.ts";
import type { CallTrace } from "./call-trace.ts";
import { grpcCalls } from "./grpc-call.ts";
import type { HttpTransport, TransportOptions } from "./http-transport.ts";
import type { CallEnv } from "./protocol-call.ts";
import { tripleCalls } from "./triple-call.ts";

/** The wire protocols a client speaks. */
export type ClientProtocol = "grpc" | "triple";

/** Options of {@link createCallClient}: protocol, codec, transport, defaults for every call, limits. */
export interface CallClientOptions extends TransportOptions {
  /** `grpc` (default: what grpc-go, grpc-js and dubbo-go's default client speak) or `triple`. */
  protocol?: ClientProtocol;
  /** Message codec: `proto` (default) or `json`. */
  codec?: CodecName;
  /** `2` (default; node:http2, cleartext prior knowledge or TLS+ALPN) or `1.1` (undici; triple only). */
  httpVersion?: "2" | "1.1";
  /**
   * Default deadline of unary calls (Check, List), in ms: 10,000 unless set, so a server that accepts a call
   * and never answers (or never ends its answer) fails it with DEADLINE_EXCEEDED instead of hanging it.
   * Streams (Watch) get a deadline only when a call asks for one. A call's own `timeoutMs` wins.
   */
  timeoutMs?: number;
  /** Metadata sent with every call. */
  metadata?: MetadataInit;
  /** `user-agent` header. Default `triple-health/<version>`. */
  userAgent?: string;
  /** Largest response message accepted (RESOURCE_EXHAUSTED above). Default 4 MiB. */
  maxMessageBytes?: number;
  /** Receives every header, frame and trailer of every call (for `--verbose` and captures). */
  trace?: CallTrace;
  /**
   * Compress each request message with gzip (`grpc-encoding: gzip`, grpc_health_probe's `-gzip`). gRPC only.
   * Default false.
   */
  gzipRequests?: boolean;
}

/** Makes unary and server-streaming calls to one server, for any message codecs. */
export interface CallClient {
  /** The server's URL, as parsed from the target (`tri://` and bare `host:port` become `http://`). */
  readonly url: string;
  readonly protocol: ClientProtocol;
  readonly codec: CodecName;
  readonly httpVersion: "2" | "1.1";
  /** One request, one response; every failure rejects with an `RpcError`. */
  unary<I extends object, O extends object>(
    method: MethodRef<I, O>,
    request: I,
    options?: CallOptions,
  ): Promise<O>;
  /**
   * One request, then each response message as it arrives; the stream's error status is thrown as an
   * `RpcError`. Returning early (`break`) cancels the call.
   */
  serverStream<I extends object, O extends object>(
    method: MethodRef<I, O>,
    request: I,
    options?: CallOptions,
  ): AsyncGenerator<O, void, undefined>;
  /** Opens the connection now (optional: calls connect on demand). */
  connect(options?: { signal?: AbortSignal }): Promise<void>;
  /** Closes the connection; running calls are cancelled. */
  close(): Promise<void>;
}

/** Default of {@link CallClientOptions.timeoutMs} for unary calls. @internal */
export const defaultUnaryTimeoutMs = 10_000;

/** The `user-agent` sent unless {@link CallClientOptions.userAgent} says otherwise. @internal */
export const userAgent = "triple-health/0.1.0";

/**
 * Parses a server address: `http://host:port`, `https://host:port` (TLS), `host:port` (cleartext)
 * or dubbo's `tri://host:port` (cleartext). A path on the URL becomes a prefix of every call's path.
 * @throws ConfigError for anything else.
 */
export function parseTarget(target: string): URL {
  let text = target.trim();
  if (/^tri:\/\//i.test(text)) text = "http://" + text.slice(6);
  else if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) text = "http://" + text;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`invalid server address ${JSON.stringify(target)}`);
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "") {
    throw new ConfigError(`invalid server address ${JSON.stringify(target)}: want http(s)://host:port`);
  }
  return url;
}

/**
 * Makes the transport of a client for its HTTP version. `createCallClient` passes one that knows both
 * transports; the CLI passes one that loads undici (HTTP/1.1) only when asked for it, so a probe over
 * HTTP/2 never loads it.
 * @internal
 */
export type TransportMaker = (url: URL, options: TransportOptions, httpVersion: "2" | "1.1") => HttpTransport;

/**
 * The call layer over the transport `makeTransport` makes: `createCallClient` without choosing the
 * transports' modules, so that a caller that needs only HTTP/2 loads only that.
 * @throws ConfigError as `createCallClient`.
 * @internal
 */
export function createCallClientOver(
  target: string,
  options: CallClientOptions,
  makeTransport: TransportMaker,
): CallClient {
  const url = parseTarget(target);
  const protocol = options.protocol ?? "grpc";
  const codec = options.codec ?? "proto";
  const httpVersion = options.httpVersion ?? "2";
  if (protocol !== "grpc" && protocol !== "triple") {
    throw new ConfigError(`unknown protocol ${JSON.stringify(protocol)}: want grpc or triple`);
  }
  if (codec !== "proto" && codec !== "json") {
    throw new ConfigError(`unknown codec ${JSON.stringify(codec)}: want proto or json`);
  }
  if (httpVersion !== "2" && httpVersion !== "1.1") {
    throw new ConfigError(`unknown HTTP version ${JSON.stringify(httpVersion)}: want 2 or 1.1`);
  }
  if (protocol === "grpc" && httpVersion === "1.1") {
    throw new ConfigError("gRPC needs HTTP/2 (trailers): use HTTP/2, or protocol triple over HTTP/1.1");
  }
  if (options.gzipRequests === true && protocol !== "grpc") {
    throw new ConfigError("gzipRequests needs protocol grpc (grpc-encoding)");
  }
  const transport = makeTransport(url, options, httpVersion);
  const env: CallEnv = {
    transport,
    codec,
    userAgent: options.userAgent ?? userAgent,
    maxMessageBytes: options.maxMessageBytes ?? defaultMaxMessageBytes,
    pathPrefix: url.pathname.replace(/\/+$/, ""),
    metadata: toMetadata(options.metadata),
    trace: options.trace,
    gzipRequests: options.gzipRequests === true,
  };
  const calls = protocol === "grpc" ? grpcCalls : tripleCalls;
  const defaultTimeout = options.timeoutMs ?? defaultUnaryTimeoutMs;
  return {
    url: url.href,
    protocol,
    codec,
    httpVersion,
    unary(method, request, callOptions = {}) {
      const timeoutMs = callOptions.timeoutMs ?? defaultTimeout;
      return calls.unary(env, method, request, { ...callOptions, timeoutMs });
    },
    serverStream(method, request, callOptions = {}) {
      return calls.serverStream(env, method, request, callOptions);
    },
    connect: (connectOptions = {}) => transport.connect(connectOptions.signal),
    close: () => transport.close(),
  };
}
