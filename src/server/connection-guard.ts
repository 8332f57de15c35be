import type http from "node:http";
import type http2 from "node:http2";
import type net from "node:net";
import { sweepPeriodMs, sweepsFor } from "./stream-watchdog.ts";

/**
 * What the guard knows of one connection: the requests (HTTP/1.1) or streams (HTTP/2) in flight, whether
 * it ever had one, and the session to close it through once it speaks HTTP/2.
 */
class GuardedConnection {
  readonly socket: net.Socket;
  readonly guard: ConnectionGuard;
  session: http2.ServerHttp2Session | undefined;
  busy = 0;
  opened = false;
  // HTTP/1.1 responses not yet finished, in request order (the order node:http answers pipelined requests).
  responses: http.ServerResponse[] | undefined;
  timer: NodeJS.Timeout | undefined;
  // The write-stall sweep's view: bytes queued on the socket when it last saw some, and since which sweep
  // none of them drained (-1: nothing queued).
  queued = 0;
  stalledSince = -1;

  constructor(socket: net.Socket, guard: ConnectionGuard) {
    this.socket = socket;
    this.guard = guard;
  }

  // One listener per connection, not per stream or request.
  readonly onDone = (): void => {
    if (--this.busy === 0) this.guard.becameIdle(this);
  };
  readonly onResponseDone = (): void => {
    this.responses?.shift();
    if (this.responses?.length === 0) this.guard.responsesDone(this);
    this.onDone();
  };

  shed(): void {
    clearTimeout(this.timer);
    const session = this.session;
    // An idle session gets a GOAWAY on its way out, so a client knows not to retry on it.
    if (session !== undefined && !session.destroyed) session.destroy();
    this.socket.destroy();
  }
}

const kGuarded = Symbol("triple-health.guarded");
type GuardedSocket = net.Socket & { [kGuarded]?: GuardedConnection };

function onStallSweep(guard: ConnectionGuard): void {
  guard.sweepStalls();
}

function onFirstRequestTimeout(connection: GuardedConnection): void {
  connection.timer = undefined;
  if (!connection.opened) connection.shed();
}

/**
 * The connection cap and the first-request timeout of a port (hardening II item 4). Every accepted
 * connection counts, whatever it speaks; at `maxConnections` a new one sheds the connection that has been
 * idle (no stream or request in flight) the longest, so a legitimate Check gets through a flood of idle
 * connections, and is itself closed only when every connection is busy. A connection that has not opened
 * a stream or sent a request head within `firstRequestTimeoutMs` is closed: the HTTP/2 preface alone, or
 * nothing at all, no longer holds a descriptor for minutes.
 * @internal
 */
export class ConnectionGuard {
  readonly #max: number;
  readonly #firstRequestTimeoutMs: number;
  // Insertion order is the order connections last went idle: the first idle one found is the one to shed.
  readonly #connections = new Map<net.Socket, GuardedConnection>();
  // HTTP/1.1 connections with a response in flight: what the write-stall sweep looks at.
  readonly #responding = new Set<GuardedConnection>();
  readonly #stallPeriodMs: number;
  readonly #stallSweeps: number;
  #sweep = 0;
  #stallTimer: NodeJS.Timeout | undefined = undefined;

  /**
   * `writeStallTimeoutMs` (0 = off): an HTTP/1.1 connection with response bytes queued on its socket that
   * has drained none of them for this long is destroyed (hardening II item 3). One unref'd interval per
   * port, running while some HTTP/1.1 response is in flight, looks at those connections only.
   */
  constructor(maxConnections: number, firstRequestTimeoutMs: number, writeStallTimeoutMs = 0) {
    this.#max = maxConnections;
    this.#firstRequestTimeoutMs = firstRequestTimeoutMs;
    this.#stallPeriodMs = sweepPeriodMs(writeStallTimeoutMs);
    this.#stallSweeps = sweepsFor(writeStallTimeoutMs, this.#stallPeriodMs);
  }

  get size(): number {
    return this.#connections.size;
  }

  /** Counts a new connection; false when it was refused (closed) because every connection is busy. */
  admit(socket: net.Socket): boolean {
    if (this.#max > 0 && this.#connections.size >= this.#max && !this.#shedIdle()) {
      socket.destroy();
      return false;
    }
    const connection = new GuardedConnection(socket, this);
    (socket as GuardedSocket)[kGuarded] = connection;
    this.#connections.set(socket, connection);
    if (this.#firstRequestTimeoutMs > 0) {
      connection.timer = setTimeout(onFirstRequestTimeout, this.#firstRequestTimeoutMs, connection);
      connection.timer.unref();
    }
    socket.once("close", () => {
      clearTimeout(connection.timer);
      this.#connections.delete(socket);
      this.#responding.delete(connection);
    });
    return true;
  }

  /** Follows the streams of an HTTP/2 session on an admitted connection. */
  watchSession(session: http2.ServerHttp2Session): void {
    // session.socket is node's proxy of the socket; it reads the socket's own properties through.
    const connection = (session.socket as GuardedSocket | undefined)?.[kGuarded];
    if (connection === undefined) return;
    connection.session = session;
    session.on("stream", (stream: http2.ServerHttp2Stream) => {
      this.#started(connection);
      stream.once("close", connection.onDone);
    });
  }

  /** Destroys an HTTP/2 session and, at once, its socket (which node:http2 would first let flush). */
  destroySession(session: http2.ServerHttp2Session): void {
    const connection = (session.socket as GuardedSocket | undefined)?.[kGuarded];
    if (!session.destroyed) session.destroy();
    connection?.socket.destroy();
  }

  /** Counts an HTTP/1.1 request until its response is finished or abandoned. */
  requestStarted(request: http.IncomingMessage, response: http.ServerResponse): void {
    const connection = (request.socket as GuardedSocket)[kGuarded];
    if (connection === undefined) return;
    this.#started(connection);
    connection.responses ??= [];
    connection.responses.push(response);
    response.once("close", connection.onResponseDone);
    if (this.#stallSweeps > 0 && connection.responses.length === 1) {
      this.#responding.add(connection);
      if (this.#stallTimer === undefined) {
        this.#stallTimer = setInterval(onStallSweep, this.#stallPeriodMs, this);
        this.#stallTimer.unref();
      }
    }
  }

  /** @internal The last response in flight on an HTTP/1.1 connection is done. */
  responsesDone(connection: GuardedConnection): void {
    if (this.#responding.size > 0) this.#responding.delete(connection);
    connection.stalledSince = -1;
  }

  /** @internal One write-stall sweep (the interval's callback). */
  sweepStalls(): void {
    const sweep = ++this.#sweep;
    if (this.#responding.size === 0) {
      clearInterval(this.#stallTimer);
      this.#stallTimer = undefined;
      return;
    }
    for (const connection of this.#responding) {
      const socket = connection.socket;
      const queued = socket.writableLength;
      if (queued === 0) {
        connection.stalledSince = -1;
      } else if (connection.stalledSince < 0 || queued < connection.queued) {
        connection.queued = queued;
        connection.stalledSince = sweep;
      } else if (sweep - connection.stalledSince >= this.#stallSweeps) {
        this.#responding.delete(connection);
        socket.destroy();
      } else {
        connection.queued = queued;
      }
    }
  }

  /**
   * True once a response has started on an HTTP/1.1 connection: its head is written, so nothing else (an
   * error answer to a pipelined request) may be, or it would land inside that response's body.
   */
  responseStarted(socket: net.Socket): boolean {
    const responses = (socket as GuardedSocket)[kGuarded]?.responses;
    return responses?.[0]?.headersSent === true;
  }

  /** @internal Moves a connection that went idle to the end of the shedding order. */
  becameIdle(connection: GuardedConnection): void {
    if (!this.#connections.has(connection.socket)) return;
    this.#connections.delete(connection.socket);
    this.#connections.set(connection.socket, connection);
  }

  #started(connection: GuardedConnection): void {
    connection.busy++;
    if (!connection.opened) {
      connection.opened = true;
      clearTimeout(connection.timer);
      connection.timer = undefined;
    }
  }

  // Closes the connection idle the longest; false when none is idle.
  #shedIdle(): boolean {
    for (const connection of this.#connections.values()) {
      if (connection.busy === 0) {
        this.#connections.delete(connection.socket);
        connection.shed();
        return true;
      }
    }
    return false;
  }
}
