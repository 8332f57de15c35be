import type http from "node:http";
import type http2 from "node:http2";
import type net from "node:net";
import type { StreamTracker } from "./session-streams.ts";
import { sweepPeriodMs, sweepsFor } from "./stream-watchdog.ts";

/**
 * What the guard knows of one connection: what it has in flight, whether it ever opened a stream or sent a
 * request, when it was last used, and the session to close it through once it speaks HTTP/2.
 */
class GuardedConnection implements StreamTracker {
  readonly socket: net.Socket;
  session: http2.ServerHttp2Session | undefined;
  // HTTP/2 streams open.
  streams = 0;
  // HTTP/1.1 responses not known to be finished, in request order (the order node:http answers pipelined
  // requests). Pruned when looked at, not on each response's 'close': a listener per request costs more than
  // the whole guard is worth on a keep-alive Check loop.
  responses: http.ServerResponse[] | undefined;
  opened = false;
  // The guard's use counter when a request or stream last started or a stream ended: the lowest among idle
  // connections is the one idle the longest.
  lastUsed = 0;
  timer: NodeJS.Timeout | undefined;
  // The write-stall sweep's view: bytes queued on the socket when it last saw some, and since which sweep
  // none of them drained (-1: nothing queued).
  queued = 0;
  stalledSince = -1;
  readonly guard: ConnectionGuard;

  constructor(socket: net.Socket, guard: ConnectionGuard) {
    this.socket = socket;
    this.guard = guard;
  }

  /** A stream opened on its session (the session's {@link StreamTracker}). */
  streamOpened(): void {
    this.guard.started(this);
    this.streams++;
  }

  streamClosed(): void {
    if (--this.streams === 0) this.lastUsed = this.guard.tick();
  }

  /** The first HTTP/1.1 response still being written, after dropping those that are done. */
  currentResponse(): http.ServerResponse | undefined {
    const responses = this.responses;
    if (responses === undefined) return undefined;
    while (responses.length > 0 && isDone(responses[0]!)) responses.shift();
    return responses[0];
  }

  get busy(): boolean {
    return this.streams > 0 || this.currentResponse() !== undefined;
  }

  shed(): void {
    clearTimeout(this.timer);
    const session = this.session;
    // An idle session gets a GOAWAY on its way out, so a client knows not to retry on it.
    if (session !== undefined && !session.destroyed) session.destroy();
    this.socket.destroy();
  }
}

function isDone(response: http.ServerResponse): boolean {
  // Finished once its last bytes left the socket: a response ended but still queued is still being written.
  return response.writableFinished || response.destroyed;
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
 *
 * The per-request work is a counter and an array push: who is idle, and since when, is worked out only when
 * a connection must be shed, which happens at the cap alone.
 * @internal
 */
export class ConnectionGuard {
  readonly #max: number;
  readonly #firstRequestTimeoutMs: number;
  readonly #connections = new Set<GuardedConnection>();
  #uses = 0;
  // HTTP/1.1 connections that may have a response in flight: what the write-stall sweep looks at (it drops
  // those whose responses are done).
  readonly #responding = new Set<GuardedConnection>();
  readonly #stallPeriodMs: number;
  readonly #stallSweeps: number;
  #sweep = 0;
  /** Connections refused (closed at once) at the cap, with none idle to shed, since the port opened. */
  refused = 0;
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

  /** @internal The use counter connections order their idleness by. */
  tick(): number {
    return ++this.#uses;
  }

  /** Counts a new connection; false when it was refused (closed) because every connection is busy. */
  admit(socket: net.Socket): boolean {
    if (this.#max > 0 && this.#connections.size >= this.#max && !this.#shedIdle()) {
      this.refused++;
      socket.destroy();
      return false;
    }
    const connection = new GuardedConnection(socket, this);
    connection.lastUsed = this.tick();
    (socket as GuardedSocket)[kGuarded] = connection;
    this.#connections.add(connection);
    if (this.#firstRequestTimeoutMs > 0) {
      connection.timer = setTimeout(onFirstRequestTimeout, this.#firstRequestTimeoutMs, connection);
      connection.timer.unref();
    }
    socket.once("close", () => {
      clearTimeout(connection.timer);
      this.#connections.delete(connection);
      this.#responding.delete(connection);
    });
    return true;
  }

  /** The tracker of an HTTP/2 session's streams on an admitted connection (undefined for one not admitted). */
  watchSession(session: http2.ServerHttp2Session): StreamTracker | undefined {
    // session.socket is node's proxy of the socket; it reads the socket's own properties through.
    const connection = (session.socket as GuardedSocket | undefined)?.[kGuarded];
    if (connection === undefined) return undefined;
    connection.session = session;
    return connection;
  }

  /** Counts an HTTP/1.1 request until its response is finished or abandoned. */
  requestStarted(request: http.IncomingMessage, response: http.ServerResponse): void {
    const connection = (request.socket as GuardedSocket)[kGuarded];
    if (connection === undefined) return;
    this.started(connection);
    connection.currentResponse();
    if (connection.responses === undefined) connection.responses = [];
    connection.responses.push(response);
    if (this.#stallSweeps > 0) {
      this.#responding.add(connection);
      if (this.#stallTimer === undefined) {
        this.#stallTimer = setInterval(onStallSweep, this.#stallPeriodMs, this);
        this.#stallTimer.unref();
      }
    }
  }

  /** Destroys an HTTP/2 session and, at once, its socket (which node:http2 would first let flush). */
  destroySession(session: http2.ServerHttp2Session): void {
    const connection = (session.socket as GuardedSocket | undefined)?.[kGuarded];
    if (!session.destroyed) session.destroy();
    connection?.socket.destroy();
  }

  /** @internal One write-stall sweep (the interval's callback). */
  sweepStalls(): void {
    const sweep = ++this.#sweep;
    for (const connection of this.#responding) {
      if (connection.currentResponse() === undefined) {
        this.#responding.delete(connection);
        connection.stalledSince = -1;
        continue;
      }
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
    if (this.#responding.size === 0) {
      clearInterval(this.#stallTimer);
      this.#stallTimer = undefined;
    }
  }

  /**
   * True once a response has started on an HTTP/1.1 connection: its head is written, so nothing else (an
   * error answer to a pipelined request) may be, or it would land inside that response's body.
   */
  responseStarted(socket: net.Socket): boolean {
    return (socket as GuardedSocket)[kGuarded]?.currentResponse()?.headersSent === true;
  }

  /** @internal A request or stream started on `connection`. */
  started(connection: GuardedConnection): void {
    connection.lastUsed = this.tick();
    if (!connection.opened) {
      connection.opened = true;
      clearTimeout(connection.timer);
      connection.timer = undefined;
    }
  }

  // Closes the connection idle the longest; false when none is idle. A scan of every connection, but only
  // at the cap, and cheaper there than keeping an order up to date on every request.
  #shedIdle(): boolean {
    let oldest: GuardedConnection | undefined;
    for (const connection of this.#connections) {
      if (connection.busy) continue;
      if (oldest === undefined || connection.lastUsed < oldest.lastUsed) oldest = connection;
    }
    if (oldest === undefined) return false;
    this.#connections.delete(oldest);
    oldest.shed();
    return true;
  }
}
