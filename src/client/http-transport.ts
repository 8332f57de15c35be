import type { IncomingHeaders } from "../protocol/request-head.ts";
import type { CallTrace } from "./call-trace.ts";
import type { ClientTlsOptions } from "./tls-options.ts";

export type { IncomingHeaders };

/**
 * One RPC's HTTP exchange: always a POST with a complete body (unary and server-streaming calls).
 * @internal
 */
export interface HttpRequest {
  /** `/{service}/{method}` */
  readonly path: string;
  /** Request headers without pseudo headers. */
  readonly headers: Record<string, string | string[]>;
  readonly body: Uint8Array;
  /** Aborting cancels the exchange (RST_STREAM CANCEL on HTTP/2, socket closed on HTTP/1.1). */
  readonly signal: AbortSignal;
}

/** A response as both transports deliver it: head, body chunks, then trailers. @internal */
export interface HttpResponse {
  readonly status: number;
  readonly headers: IncomingHeaders;
  /** Body chunks as they arrive; a transport failure throws an `RpcError`. */
  readonly body: AsyncIterable<Buffer>;
  /** The trailers; complete once `body` is exhausted (empty for a response without any). */
  trailers(): IncomingHeaders;
}

/**
 * The HTTP layer under the gRPC and triple call functions, so one call implementation runs over
 * node:http2 and over undici's HTTP/1.1.
 * @internal
 */
export interface HttpTransport {
  readonly httpVersion: "2" | "1.1";
  /** `http://127.0.0.1:20000` */
  readonly origin: string;
  /** Opens the connection ahead of the first call; rejects with an `RpcError` (UNAVAILABLE) on failure. */
  connect(signal?: AbortSignal): Promise<void>;
  request(request: HttpRequest, trace?: CallTrace): Promise<HttpResponse>;
  /** Closes the connection(s); calls still running are cancelled. */
  close(): Promise<void>;
}

/**
 * Connection settings of both transports and of a proxy's upstreams; users set them through
 * `CallClientOptions` (which extends this) or `TripleProxyOptions.upstream`.
 */
export interface TransportOptions {
  /** TLS settings; implied by an `https:` URL, or turns TLS on for an `http:` one. */
  tls?: ClientTlsOptions;
  /**
   * Limit on establishing a connection: TCP, TLS when used, and over HTTP/2 the server's first
   * SETTINGS frame. Default 10 000 ms, for clients and a proxy's upstreams alike.
   */
  connectTimeoutMs?: number;
  /**
   * HTTP/2 keepalive: while calls are open on a connection and nothing has been received on it for this
   * long, ms, a PING is sent (0 = no keepalive). Default 10,000 (dubbo-go's triple client: 10 s).
   * With {@link keepaliveTimeoutMs}, a server whose host vanished (TCP open, every byte dropped) is noticed
   * 20 to 22.5 s after its last byte by default: the connection is destroyed and its calls fail with
   * UNAVAILABLE ("keepalive timeout"), so a Watch ends, a follower reconnects, a picker stops routing there.
   * A server answering GOAWAY(ENHANCE_YOUR_CALM, "too_many_pings") doubles the time for the next connections
   * (gRFC A8). Idle connections are not pinged (as grpc-go's client without `PermitWithoutStream`).
   */
  keepaliveTimeMs?: number;
  /** Time a keepalive PING's ACK may take, ms, before the connection is declared dead. Default 10,000. */
  keepaliveTimeoutMs?: number;
}

/** Default of {@link TransportOptions.connectTimeoutMs}. @internal */
export const defaultConnectTimeoutMs = 10_000;

/** Default of {@link TransportOptions.keepaliveTimeMs}. @internal */
export const defaultKeepaliveTimeMs = 10_000;

/** Default of {@link TransportOptions.keepaliveTimeoutMs}. @internal */
export const defaultKeepaliveTimeoutMs = 10_000;
