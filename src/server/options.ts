/**
 * Transport settings of a port (TripleServer, TripleProxy), with the defaults chosen for a health
 * endpoint that faces probes, load balancers and, at worst, hostile clients.
 */

/** HTTP/2 limits (node:http2 settings and session options). */
export interface Http2Options {
  /**
   * SETTINGS_MAX_CONCURRENT_STREAMS. Default 256 (x/net's is 250; bounds a rapid-reset client): well above
   * the 100 Watch streams a connection may hold, so a client watching that much can still make unary calls
   * on the same connection (issue 14 item 5).
   */
  maxConcurrentStreams?: number;
  /** SETTINGS_INITIAL_WINDOW_SIZE per stream. Default 65,535 (the protocol default). */
  initialWindowSize?: number;
  /**
   * SETTINGS_MAX_HEADER_LIST_SIZE (name + value + 32 bytes per field). Default 64 KiB. A larger list gets
   * RST_STREAM(ENHANCE_YOUR_CALM) from node:http2, or 431 from us while the client has not acknowledged
   * our SETTINGS (node applies the limit only after the ACK); the connection serves on either way.
   */
  maxHeaderListSize?: number;
  /** Most header pairs per block. Default 128 (node's default). */
  maxHeaderListPairs?: number;
  /** Memory a session may use, MB, before new streams are refused. Default 10 (node's default). */
  maxSessionMemory?: number;
  /** Closes a session idle this long, ms (0 = never). Default 0: Watch streams may be quiet for hours. */
  sessionIdleTimeoutMs?: number;
  /**
   * Closes (GOAWAY, then destroys) a session that has had no open stream for this long, ms (0 = never).
   * Default 300,000 (5 minutes). Bounds idle and abandoned connections — also those node:http2 leaves open
   * after sending GOAWAY for a protocol error — while a Watch stream keeps its session alive however quiet.
   */
  emptySessionTimeoutMs?: number;
}

/** HTTP/1.1 timeouts (node:http server settings). */
export interface Http1Options {
  /** Time to receive the request head, ms: ends slowloris clients. Default 20,000. */
  headersTimeout?: number;
  /** Time to receive the whole request, ms (not the response: streams may run long). Default 60,000. */
  requestTimeout?: number;
  /** Idle keep-alive connections are closed after this, ms. Default 5,000 (node's default). */
  keepAliveTimeout?: number;
  /** Largest request head, bytes. Default 16 KiB (node's default). */
  maxHeaderSize?: number;
}

/** Limits on connections, whatever protocol they speak. */
export interface ConnectionOptions {
  /**
   * Most open connections on the port. At the cap a new connection closes the one idle longest (no stream
   * or request in flight), or is itself closed when every connection is busy. Default 10,000 (0 = no cap).
   */
  maxConnections?: number;
  /**
   * A connection that has not opened an HTTP/2 stream or sent an HTTP/1.1 request head within this, ms, is
   * closed. Default 10,000 (0 = never): the HTTP/2 preface alone, or an idle socket, no longer holds a
   * connection for emptySessionTimeoutMs / headersTimeout.
   */
  firstRequestTimeoutMs?: number;
  /**
   * Byte budget of one connection: request bytes buffered until their message is complete plus response
   * bytes written and not yet sent, over every stream of the connection. Past it the connection's call
   * holding the most bytes is ended (RESOURCE_EXHAUSTED; reset when its response is what is held) and an
   * HTTP/2 connection takes no new stream (RST_STREAM REFUSED_STREAM) until it holds at most half as much;
   * an HTTP/1.1 connection is closed with its call. Default 16 MiB (0 = no budget). Per stream,
   * `maxMessageBytes` is the budget.
   */
  maxConnectionBufferedBytes?: number;
  /**
   * Byte budget of the whole port, over every connection (the process's, for a process running one
   * server). Past it the connection holding the most bytes is treated as over its own budget. Default
   * 256 MiB (0 = no budget).
   */
  maxProcessBufferedBytes?: number;
}

/** @internal */
export const connectionDefaults: Required<ConnectionOptions> = Object.freeze({
  maxConnections: 10_000,
  firstRequestTimeoutMs: 10_000,
  maxConnectionBufferedBytes: 16 * 1024 * 1024,
  maxProcessBufferedBytes: 256 * 1024 * 1024,
});

/** @internal */
export const http2Defaults: Required<Http2Options> = Object.freeze({
  maxConcurrentStreams: 256,
  initialWindowSize: 65_535,
  maxHeaderListSize: 64 * 1024,
  maxHeaderListPairs: 128,
  maxSessionMemory: 10,
  sessionIdleTimeoutMs: 0,
  emptySessionTimeoutMs: 300_000,
});

/** @internal */
export const http1Defaults: Required<Http1Options> = Object.freeze({
  headersTimeout: 20_000,
  requestTimeout: 60_000,
  keepAliveTimeout: 5_000,
  maxHeaderSize: 16 * 1024,
});
