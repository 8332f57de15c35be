import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import tls from "node:tls";
import { type ByteBudget, createByteBudget } from "./byte-budget.ts";
import { ConnectionGuard } from "./connection-guard.ts";
import { limitHeaderList, type StreamListener } from "./header-list-limit.ts";
import {
  type ConnectionOptions,
  connectionDefaults,
  type Http1Options,
  type Http2Options,
  http1Defaults,
  http2Defaults,
} from "./options.ts";
import { enforcePingPolicy } from "./ping-policy.ts";
import { SessionKeepalive } from "./session-keepalive.ts";
import { type StreamTracker, trackStreams } from "./session-streams.ts";
import { StreamWatchdog } from "./stream-watchdog.ts";

/** Key material for TLS; ALPN offers `h2` and `http/1.1`. */
export interface TlsOptions {
  key: string | Buffer | (string | Buffer)[];
  cert: string | Buffer | (string | Buffer)[];
  ca?: string | Buffer | (string | Buffer)[];
  /** Ask clients for a certificate (mutual TLS). */
  requestCert?: boolean;
  rejectUnauthorized?: boolean;
}

/** @internal */
export interface PortListenerOptions {
  tls?: TlsOptions | undefined;
  http2?: Http2Options | undefined;
  http1?: Http1Options | undefined;
  connections?: ConnectionOptions | undefined;
  onStream: StreamListener;
  onRequest: (req: http.IncomingMessage, res: http.ServerResponse) => void;
}

// Typed as plain Buffer: the inferred Buffer<ArrayBuffer> in the .d.ts needs TypeScript 5.7 and a recent @types/node.
/** The client connection preface of HTTP/2 (RFC 9113 §3.4). */
export const http2Preface: Buffer = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

// "PRI ": the method of the HTTP/2 preface, and of no HTTP/1.1 request.
const priMethodBytes = 4;

const kSniff = Symbol("triple-health.sniff");
type SniffSocket = net.Socket & { [kSniff]?: { listener: PortListener; head: Buffer | undefined } };

function ignoreError(): void {}

// The server pings idle sessions with or without streams: an abandoned one frees its socket sooner too.
function alwaysPing(): boolean {
  return true;
}

// The answer to a request node:http could not parse: 431 for a head past maxHeaderSize and 408 for the
// headers/request timeout (what node's own default answers, and what clients map to RESOURCE_EXHAUSTED
// and DEADLINE_EXCEEDED), 400 for anything else. (hardening H2)
function clientErrorResponse(error: Error): string {
  const code = (error as { code?: unknown }).code;
  return closingResponse(
    code === "HPE_HEADER_OVERFLOW"
      ? "431 Request Header Fields Too Large"
      : code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? "408 Request Timeout"
        : "400 Bad Request",
  );
}

// An empty answer after which the connection closes.
function closingResponse(status: string): string {
  return `HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`;
}

function destroySession(session: http2.ServerHttp2Session): void {
  if (!session.destroyed) session.destroy();
}

// A session without streams for emptySessionTimeoutMs: GOAWAY. A session nghttp2 already terminated
// (GOAWAY for a protocol error) never finishes closing and emits nothing, so it is destroyed a second later.
function closeEmptySession(session: http2.ServerHttp2Session): void {
  if (session.destroyed) return;
  if (!session.closed) session.close();
  setTimeout(destroySession, 1_000, session).unref();
}

/**
 * Closes a session that has had no open stream for `timeoutMs`. (hardening H3) Streams only count up
 * and down and note when the last one closed; the one timer per session is re-armed lazily when it
 * fires. A busy session thus costs no timer work.
 */
class EmptySessionTimer implements StreamTracker {
  readonly #session: http2.ServerHttp2Session;
  readonly #timeoutMs: number;
  #timer: NodeJS.Timeout;
  #open = 0;
  #emptySince: number;

  constructor(session: http2.ServerHttp2Session, timeoutMs: number) {
    this.#session = session;
    this.#timeoutMs = timeoutMs;
    this.#emptySince = Date.now();
    this.#timer = setTimeout(onEmptySessionTimer, timeoutMs, this);
    this.#timer.unref();
    session.once("close", () => clearTimeout(this.#timer));
  }

  streamOpened(): void {
    this.#open++;
  }

  streamClosed(): void {
    if (--this.#open === 0) this.#emptySince = Date.now();
  }

  check(): void {
    const session = this.#session;
    if (session.destroyed) return;
    const idleMs = this.#open === 0 ? Date.now() - this.#emptySince : 0;
    if (idleMs >= this.#timeoutMs) {
      closeEmptySession(session);
      return;
    }
    this.#timer = setTimeout(onEmptySessionTimer, this.#timeoutMs - idleMs, this);
    this.#timer.unref();
  }
}

function onEmptySessionTimer(tracker: EmptySessionTimer): void {
  tracker.check();
}

function onSniffTimeout(this: net.Socket): void {
  this.destroy();
}

// The first bytes decide: the HTTP/2 preface (prior knowledge, h2c) or anything else (HTTP/1.1).
function onFirstData(this: SniffSocket, chunk: Buffer): void {
  const state = this[kSniff];
  if (state === undefined) return;
  const head = state.head === undefined ? chunk : Buffer.concat([state.head, chunk]);
  const compared = Math.min(head.length, http2Preface.length);
  const matches = head.compare(http2Preface, 0, compared, 0, compared) === 0;
  if (matches && head.length < http2Preface.length) {
    // A prefix of the preface so far: wait for the rest.
    state.head = head;
    return;
  }
  this.removeListener("data", onFirstData);
  this.setTimeout(0);
  this.removeListener("timeout", onSniffTimeout);
  this[kSniff] = undefined;
  if (
    !matches &&
    compared >= priMethodBytes &&
    head.compare(http2Preface, 0, priMethodBytes, 0, priMethodBytes) === 0
  ) {
    // The PRI method exists only for the HTTP/2 preface; node's HTTP/1.1 parser would sit on such a
    // request until the headers timeout, so it is refused here at once. (hardening H8)
    this.write(closingResponse("400 Bad Request"));
    this.destroySoon();
    return;
  }
  this.pause();
  this.unshift(head);
  if (matches) state.listener.h2server.emit("connection", this);
  else {
    state.listener.h1server.emit("connection", this);
    this.resume();
  }
}

/**
 * One port for every transport: plaintext connections are told apart by their first bytes (the
 * HTTP/2 preface means h2c with prior knowledge, anything else HTTP/1.1); TLS connections by ALPN
 * (`h2` or `http/1.1`). Either way the socket is handed to one shared node:http2 server (core
 * `stream` API) or one node:http server, neither of which listens itself.
 * @internal
 */
export class PortListener {
  readonly h2server: http2.Http2Server;
  readonly h1server: http.Server;
  readonly server: net.Server;
  readonly sockets = new Set<net.Socket>();
  readonly sessions = new Set<http2.ServerHttp2Session>();
  readonly guard: ConnectionGuard;
  /** The port's byte budgets; undefined when both are off. */
  readonly budget: ByteBudget | undefined;
  readonly #sniffTimeout: number;

  constructor(options: PortListenerOptions) {
    const h2 = { ...http2Defaults, ...options.http2 };
    const h1 = { ...http1Defaults, ...options.http1 };
    const connections = { ...connectionDefaults, ...options.connections };
    const guard = new ConnectionGuard(
      connections.maxConnections,
      connections.firstRequestTimeoutMs,
      h1.writeStallTimeoutMs,
    );
    this.guard = guard;
    const onRequest = options.onRequest;
    this.budget = createByteBudget(
      connections.maxConnectionBufferedBytes,
      connections.maxProcessBufferedBytes,
    );
    const budget = this.budget;
    this.#sniffTimeout = h1.headersTimeout;
    this.h2server = http2.createServer({
      settings: {
        maxConcurrentStreams: h2.maxConcurrentStreams,
        initialWindowSize: h2.initialWindowSize,
        maxHeaderListSize: h2.maxHeaderListSize,
      },
      maxHeaderListPairs: h2.maxHeaderListPairs,
      maxSessionMemory: h2.maxSessionMemory,
    });
    // Our SETTINGS limit holds before the client acknowledges them too (hardening II item 11); a connection
    // over its byte budget gets no new stream.
    const onStream = budget === undefined ? options.onStream : budget.guardStream(options.onStream);
    this.h2server.on("stream", limitHeaderList(h2.maxHeaderListSize, onStream));
    this.h2server.on("session", (session: http2.ServerHttp2Session) => {
      this.sessions.add(session);
      budget?.open(session);
      session.on("error", ignoreError);
      const trackers: StreamTracker[] = [];
      const guarded = this.guard.watchSession(session);
      if (guarded !== undefined) trackers.push(guarded);
      if (h2.emptySessionTimeoutMs > 0)
        trackers.push(new EmptySessionTimer(session, h2.emptySessionTimeoutMs));
      if (StreamWatchdog.wanted(h2.requestBodyTimeoutMs, h2.writeStallTimeoutMs))
        trackers.push(
          new StreamWatchdog(session, h2.requestBodyTimeoutMs, h2.writeStallTimeoutMs, () =>
            this.guard.destroySession(session),
          ),
        );
      trackStreams(session, trackers);
      session.once("close", () => this.sessions.delete(session));
      if (h2.keepaliveTimeMs > 0)
        new SessionKeepalive(
          session,
          { timeMs: h2.keepaliveTimeMs, timeoutMs: h2.keepaliveTimeoutMs },
          { wantsPing: alwaysPing, dead: () => this.guard.destroySession(session) },
        );
      if (h2.minPingIntervalMs > 0) enforcePingPolicy(session, h2.minPingIntervalMs);
    });
    // node:http2 servers time sessions out after 2 minutes by default; health Watch streams must outlive that.
    this.h2server.setTimeout(h2.sessionIdleTimeoutMs);
    this.h1server = http.createServer(
      {
        headersTimeout: h1.headersTimeout,
        requestTimeout: h1.requestTimeout,
        maxHeaderSize: h1.maxHeaderSize,
        // How often node:http enforces the two timeouts above (its default, 30 s, would let a
        // slowloris client hold a connection far longer than headersTimeout).
        connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(h1.headersTimeout / 2))),
      },
      // One 'request' listener, the guard's bookkeeping inside it: a second listener makes node's emit take
      // its slower many-listeners path on every request.
      (request, response) => {
        guard.requestStarted(request, response);
        onRequest(request, response);
      },
    );
    this.h1server.keepAliveTimeout = h1.keepAliveTimeout;
    // HTTP/1.1 requests are charged to their socket, HTTP/2 streams to their session.
    if (budget !== undefined) this.h1server.on("connection", (socket: net.Socket) => budget.open(socket));
    this.h1server.on("clientError", (error: Error, socket: net.Socket) => {
      // A malformed or timed-out pipelined request behind a streaming response: writing the error answer
      // would put it inside that response's body. (hardening II item 9)
      if (socket.writable && !this.guard.responseStarted(socket)) socket.end(clientErrorResponse(error));
      else socket.destroy();
    });

    if (options.tls !== undefined) {
      this.server = tls.createServer(
        { ...options.tls, ALPNProtocols: ["h2", "http/1.1"], noDelay: true },
        (socket) => {
          if (!this.#track(socket)) return;
          socket.on("error", ignoreError);
          if (socket.alpnProtocol === "h2") this.h2server.emit("connection", socket);
          else this.h1server.emit("connection", socket);
        },
      );
    } else {
      // noDelay as node:http and node:http2 servers set it: small responses must not wait for Nagle.
      this.server = net.createServer({ noDelay: true }, (socket: SniffSocket) => {
        if (!this.#track(socket)) return;
        socket.on("error", ignoreError);
        socket[kSniff] = { listener: this, head: undefined };
        socket.setTimeout(this.#sniffTimeout);
        socket.on("timeout", onSniffTimeout);
        socket.on("data", onFirstData);
      });
    }
  }

  // False when the connection cap refused the socket.
  #track(socket: net.Socket): boolean {
    if (!this.guard.admit(socket)) return false;
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
    return true;
  }

  /** Starts listening; resolves with the bound address. */
  listen(port: number, host: string): Promise<net.AddressInfo> {
    return new Promise((resolve, reject) => {
      const server = this.server;
      const onError = (error: Error): void => reject(error);
      server.once("error", onError);
      server.listen(port, host, () => {
        server.removeListener("error", onError);
        // node:http starts its request/headers timeout checks on 'listening'; it never listens itself.
        this.h1server.emit("listening");
        resolve(server.address() as net.AddressInfo);
      });
    });
  }

  /** Stops accepting connections (existing ones stay). */
  stopAccepting(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) {
        resolve();
        return;
      }
      this.server.close(() => resolve());
    });
  }

  /** Sends GOAWAY on every HTTP/2 session and closes idle HTTP/1.1 connections. */
  goAway(): void {
    for (const session of this.sessions) {
      if (!session.closed && !session.destroyed) session.close();
    }
    // Connections that have not said which protocol they speak yet have nothing in flight.
    for (const socket of this.sockets) {
      if ((socket as SniffSocket)[kSniff] !== undefined) socket.destroy();
    }
    this.closeIdleHttp1();
  }

  /** Closes HTTP/1.1 connections with no request in flight. */
  closeIdleHttp1(): void {
    this.h1server.closeIdleConnections();
  }

  /** Destroys every connection left. */
  destroyAll(): void {
    for (const session of this.sessions) session.destroy();
    for (const socket of this.sockets) socket.destroy();
  }

  /** Stops node:http's timeout checks. */
  dispose(): void {
    this.h1server.close(() => {});
  }

  /**
   * Closes gracefully: stop accepting, `drain` (what the host does before GOAWAY), GOAWAY, let in-flight
   * calls finish within `graceMs`, then `atDeadline` (when connections are left: the host ends its
   * long-lived streams cleanly) and destroy what is left.
   */
  async closeGracefully(
    graceMs: number,
    drain: () => Promise<void>,
    atDeadline?: () => Promise<void>,
  ): Promise<void> {
    const stopped = this.stopAccepting();
    await drain();
    this.goAway();
    const deadline = Date.now() + graceMs;
    while (this.sockets.size > 0 && Date.now() < deadline) {
      await delay(Math.min(http1PollMs, Math.max(1, deadline - Date.now())));
      this.closeIdleHttp1();
    }
    if (this.sockets.size > 0 && atDeadline !== undefined) await atDeadline();
    this.destroyAll();
    await stopped;
    this.dispose();
  }
}

// How often a closing listener looks for HTTP/1.1 connections that have gone idle.
const http1PollMs = 25;

// Not unref'd: a process awaiting close() must not exit half-way once the listener is gone.
function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
