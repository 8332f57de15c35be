import { ConfigError } from "../wire/config-error.ts";

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
  /**
   * Memory a session may use, MB, before new streams are refused. Default 10 (node's default). Node 22 and 24
   * count the session's queued response bytes too (measured: about 10 queued responses of 1 MiB, then
   * RST_STREAM(ENHANCE_YOUR_CALM) for new streams); node 20 lets 100 such streams queue.
   */
  maxSessionMemory?: number;
  /** Closes a session idle this long, ms (0 = never). Default 0: Watch streams may be quiet for hours. */
  sessionIdleTimeoutMs?: number;
  /**
   * Closes (GOAWAY, then destroys) a session that has had no open stream for this long, ms (0 = never).
   * Default 300,000 (5 minutes). Bounds idle and abandoned connections — also those node:http2 leaves open
   * after sending GOAWAY for a protocol error — while a Watch stream keeps its session alive however quiet.
   */
  emptySessionTimeoutMs?: number;
  /**
   * Time a stream has to send its whole request, from the moment it opened, ms (0 = never): HTTP/1.1's
   * `requestTimeout` for HTTP/2. Default 60,000 (the same). A call whose request is late gets its answer
   * (DEADLINE_EXCEEDED in its protocol: gRPC status 4, triple/Connect `deadline_exceeded` — HTTP 408 for a
   * unary call; plain HTTP 408) and is then reset, or only RST_STREAM(CANCEL) when its response had already
   * started; what it had buffered is dropped. Every call this server serves ends its request at once (unary
   * and server-streaming alike), so only a stalled or hostile client is cut; a proxy forwarding long client
   * or bidi streams should set 0 (as `http1.requestTimeout` cuts them on HTTP/1.1). Swept every
   * min(1 s, timeout / 4): it fires between its value and one period later.
   */
  requestBodyTimeoutMs?: number;
  /**
   * A stream with response bytes queued that has not drained any of them for this long, ms, is reset with
   * RST_STREAM(CANCEL) and its queued data freed (0 = never). Default 30,000. Bounds a peer that never opens
   * its flow-control window; a connection whose socket has bytes queued and drains none of them for as long
   * (a peer that opened its windows but reads no TCP) is destroyed. Progress is seen per write: one response
   * message must be taken by the peer within the timeout. Swept every min(1 s, timeout / 4).
   */
  writeStallTimeoutMs?: number;
  /**
   * A session from which nothing has been received for this long, ms, gets a PING (0 = no keepalive).
   * Default 60,000. With {@link keepaliveTimeoutMs}, frees what a client whose host vanished (TCP open,
   * every byte dropped) holds — its Watch streams and their slots of the per-address share — within
   * 60 s + at most 5 s + 20 s ≈ 1.5 minutes by default, instead of when the kernel gives up, hours later.
   */
  keepaliveTimeMs?: number;
  /** Time a keepalive PING's ACK may take, ms, before the session is destroyed. Default 20,000. */
  keepaliveTimeoutMs?: number;
  /**
   * Policy against clients that ping too often (grpc-go's EnforcementPolicy): a PING that arrives less than
   * this long after the previous one, while the server has sent nothing but PING ACKs since, is a strike;
   * the third strike in a row gets GOAWAY(ENHANCE_YOUR_CALM, "too_many_pings") and the connection closes.
   * Default 5,000 (0 = no policy): half our client's keepalive time (10 s); grpc-go's server default is 5
   * minutes, which would cut a client that pings every 10 s while its Watch stream is quiet. Pings on a
   * connection without streams are allowed at the same pace (dubbo-go's client pings idle connections).
   */
  minPingIntervalMs?: number;
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
  /**
   * A connection with response bytes queued on its socket that has not drained any of them for this long,
   * ms, is destroyed (0 = never). Default 30,000: a client that stops reading no longer holds its response in
   * memory. Progress is seen per write: one response chunk must be taken by the client within the timeout.
   */
  writeStallTimeoutMs?: number;
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
  requestBodyTimeoutMs: 60_000,
  writeStallTimeoutMs: 30_000,
  keepaliveTimeMs: 60_000,
  keepaliveTimeoutMs: 20_000,
  minPingIntervalMs: 5_000,
});

/** @internal */
export const http1Defaults: Required<Http1Options> = Object.freeze({
  headersTimeout: 20_000,
  requestTimeout: 60_000,
  keepAliveTimeout: 5_000,
  maxHeaderSize: 16 * 1024,
  writeStallTimeoutMs: 30_000,
});

/**
 * @internal Checks the timeouts of a port's options (where they are given: the host's constructor).
 * @throws ConfigError for one that is not a whole number of ms from 0 to 2^31 - 1.
 */
export function checkTransportTimeouts(
  http2: Http2Options | undefined,
  http1: Http1Options | undefined,
): void {
  if (http2?.requestBodyTimeoutMs !== undefined)
    checkTimeoutOption("http2.requestBodyTimeoutMs", http2.requestBodyTimeoutMs);
  if (http2?.writeStallTimeoutMs !== undefined)
    checkTimeoutOption("http2.writeStallTimeoutMs", http2.writeStallTimeoutMs);
  for (const name of ["keepaliveTimeMs", "keepaliveTimeoutMs", "minPingIntervalMs"] as const) {
    const value = http2?.[name];
    if (value !== undefined) checkTimeoutOption(`http2.${name}`, value);
  }
  if (http1?.writeStallTimeoutMs !== undefined)
    checkTimeoutOption("http1.writeStallTimeoutMs", http1.writeStallTimeoutMs);
}

/**
 * @internal Checks a timeout option: a whole number of ms, 0 (off) or more, that a timer can hold.
 * @throws ConfigError otherwise.
 */
export function checkTimeoutOption(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0 || value > maxTimeoutMs) {
    throw new ConfigError(`${name} must be a whole number of milliseconds from 0 to ${maxTimeoutMs}`);
  }
  return value;
}

// The longest delay setTimeout honours (2^31 - 1 ms).
const maxTimeoutMs = 2_147_483_647;
