import http2 from "node:http2";
import { type KeepaliveSettings, SessionKeepalive } from "../server/session-keepalive.ts";
import { Code } from "../wire/code.ts";
import { ConfigError } from "../wire/config-error.ts";
import { headerListSize } from "../wire/header-list-size.ts";
import { RpcError } from "../wire/rpc-error.ts";
import {
  defaultConnectTimeoutMs,
  defaultKeepaliveTimeMs,
  defaultKeepaliveTimeoutMs,
  type TransportOptions,
} from "./http-transport.ts";
import { type ClientTlsOptions, tlsConnectOptions, tlsFor } from "./tls-options.ts";
import { connectFailure } from "./transport-errors.ts";

const { NGHTTP2_CANCEL, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_REFUSED_STREAM } = http2.constants;

// The longest keepalive time the doubling on "too_many_pings" reaches (grpc-go caps nothing; an hour is
// as good as none for detection and still bounded).
const maxKeepaliveTimeMs = 3_600_000;

// Every call sends a body after its headers: no stream ends with its HEADERS frame.
const requestOptions: http2.ClientSessionRequestOptions = { endStream: false };

/** SETTINGS_MAX_HEADER_LIST_SIZE a client session advertises (the server's default limit too). @internal */
export const maxResponseHeaderListBytes = 64 * 1024;

/**
 * The size of a response's (or its trailers') header list when it is over the maxResponseHeaderListBytes the
 * pool's sessions advertise, else 0. nghttp2 and node enforce that setting only once the server has
 * acknowledged our SETTINGS, and node reads the limit when a stream opens: a server that delays its
 * acknowledgement (or never sends one) gets the first calls of every connection answered with a list of any
 * size nghttp2 takes (up to 9 frames, 128 fields). Whoever reads a pooled stream checks this, so every call
 * holds the same line. `rawHeaders` is the event's flat list (absent only from a hand-made event).
 * @internal
 */
export function oversizedHeaderList(rawHeaders: readonly string[] | undefined): number {
  if (rawHeaders === undefined) return 0;
  const size = headerListSize(rawHeaders);
  return size > maxResponseHeaderListBytes ? size : 0;
}

const kPooled = Symbol("triple-health.pooled-session");
type PooledStream = http2.ClientHttp2Stream & { [kPooled]?: PooledSession };

function ignore(): void {}

/** One authority's session, its handshake and the streams open on it. */
class PooledSession {
  readonly streams = new Set<PooledStream>();
  /** Settles with the handshake: the server's first SETTINGS frame, or a connect failure. */
  readonly ready: Promise<PooledSession>;
  handshaken = false;
  /** The last-stream-id of the GOAWAY the server sent, if any: streams above it were never processed. */
  goawayLastStreamId: number | undefined;
  #fail!: (error: RpcError) => void;

  constructor(
    readonly session: http2.ClientHttp2Session,
    readonly authority: string,
    connectTimeoutMs: number,
    forget: (pooled: PooledSession) => void,
    keepalive: KeepaliveSettings | undefined,
    onTooManyPings: () => void,
  ) {
    this.ready = new Promise<PooledSession>((resolve, reject) => {
      this.#fail = reject;
      // Past TCP and TLS, a peer that is no HTTP/2 server (or a stalled one) never sends SETTINGS: the
      // limit covers that too, so such a peer fails like an unreachable one instead of hanging calls.
      const timer = setTimeout(() => {
        const error = connectFailure(authority, new DOMException("connect timed out", "TimeoutError"));
        reject(error);
        session.destroy(error);
      }, connectTimeoutMs);
      session.once("remoteSettings", () => {
        clearTimeout(timer);
        this.handshaken = true;
        if (keepalive !== undefined) {
          // A silent peer fails the session's streams with UNAVAILABLE: they end with this error.
          new SessionKeepalive(session, keepalive, {
            wantsPing: () => this.streams.size > 0,
            dead: (why) => session.destroy(new RpcError(Code.Unavailable, `${authority}: ${why}`)),
          });
        }
        if (this.streams.size === 0) session.unref();
        resolve(this);
      });
      // Errors after the handshake surface on the streams; the listener keeps them from crashing the process.
      session.on("error", (cause: Error) => {
        forget(this);
        reject(cause instanceof RpcError ? cause : connectFailure(authority, cause));
      });
      // Node emits 'goaway' before it fails the session's streams (at once for an error code): the streams'
      // own events find the last-stream-id recorded. After a NO_ERROR GOAWAY node leaves the streams above it
      // (or not yet sent) open until their deadline: they fail now, marked not processed, and the transport
      // sends them once more on a new connection.
      session.on("goaway", (code: number, last: number, data?: Buffer) => {
        forget(this);
        this.goawayLastStreamId = Math.min(last, this.goawayLastStreamId ?? last);
        for (const stream of this.streams) {
          if (stream.id === undefined || stream.id > last)
            stream.destroy(
              new RpcError(Code.Unavailable, `${authority} sent GOAWAY (code ${code}): call not processed`),
            );
        }
        if (code === NGHTTP2_ENHANCE_YOUR_CALM && data?.toString("latin1") === "too_many_pings")
          onTooManyPings();
      });
      session.once("close", () => {
        clearTimeout(timer);
        forget(this);
        reject(connectFailure(authority, new Error("connection closed before the server's SETTINGS")));
      });
    });
    // Callers that never wait for the handshake (a proxy's queued streams) learn of a failure on the streams.
    this.ready.catch(ignore);
  }

  /** Holds the event loop open while a stream runs, and only then (once the handshake is over). */
  track(stream: PooledStream): void {
    if (this.streams.size === 0) this.session.ref();
    this.streams.add(stream);
    stream[kPooled] = this;
    stream.once("close", untrack);
  }

  /** GOAWAY now; streams still open after `graceMs` are cancelled (RST_STREAM CANCEL). */
  close(graceMs: number): Promise<void> {
    const session = this.session;
    if (!this.handshaken) {
      // Still connecting: node emits 'close' for such a session only once its socket settles (a
      // stalled TLS handshake: never), so nothing is awaited; waiters and queued streams fail now.
      this.#fail(closedError());
      session.destroy();
      return Promise.resolve();
    }
    if (session.destroyed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      // An idle session's socket is unref'd, and closing it is not a pending handle: hold the event
      // loop until the close completes, or a process awaiting close() could exit in the middle.
      const hold = setInterval(ignore, 60_000);
      const cancel = () => {
        for (const stream of this.streams) {
          if (!stream.closed) stream.close(NGHTTP2_CANCEL);
          stream.destroy();
        }
      };
      const timer = graceMs > 0 ? setTimeout(cancel, graceMs) : undefined;
      session.once("close", () => {
        clearInterval(hold);
        clearTimeout(timer);
        resolve();
      });
      session.close();
      if (timer === undefined) cancel();
    });
  }
}

// A listener shared by every stream (`this` is the stream): no closure per call.
function untrack(this: PooledStream): void {
  const pooled = this[kPooled]!;
  pooled.streams.delete(this);
  if (pooled.streams.size === 0 && pooled.handshaken && !pooled.session.destroyed) pooled.session.unref();
}

/**
 * Whether `stream`, ended before any response headers, was certainly never processed by the server, so
 * that sending its request again on a new session cannot run it twice (RFC 9113 §8.7): reset with
 * REFUSED_STREAM (by the server, or by nghttp2 for a stream above a GOAWAY's last-stream-id), above the
 * last-stream-id of a GOAWAY its session received (node fails such streams with the GOAWAY's error code
 * when that is not NO_ERROR), or never sent at all. A stream the pool did not open is not judged.
 * @internal
 */
export function unprocessedStream(stream: http2.ClientHttp2Stream): boolean {
  const pooled = (stream as PooledStream)[kPooled];
  if (pooled === undefined) return false;
  if (stream.rstCode === NGHTTP2_REFUSED_STREAM) return true;
  const id = stream.id;
  if (id === undefined) return pooled.handshaken;
  const last = pooled.goawayLastStreamId;
  return last !== undefined && id > last;
}

function closedError(): RpcError {
  return new RpcError(Code.Unavailable, "client closed");
}

function unusable(session: http2.ClientHttp2Session): boolean {
  return session.closed || session.destroyed;
}

/**
 * HTTP/2 client sessions, one per authority, for the client's transport and the proxy's upstreams:
 * cleartext with prior knowledge (h2c, what gRPC and dubbo-go's default client speak) or TLS with
 * ALPN `h2`. A session that fails, closes or receives GOAWAY is forgotten and the next stream opens a
 * new one. The connect timeout covers TCP, TLS and the server's first SETTINGS frame. An idle session
 * does not hold the process open.
 * @internal
 */
export class SessionPool {
  readonly #sessions = new Map<string, PooledSession>();
  readonly #tls: ClientTlsOptions | undefined;
  readonly #connectTimeoutMs: number;
  #keepalive: KeepaliveSettings | undefined;
  readonly #forget = (pooled: PooledSession): void => {
    if (this.#sessions.get(pooled.authority) === pooled) this.#sessions.delete(pooled.authority);
  };
  // A server found our pings too frequent: later sessions ping half as often (gRFC A8).
  readonly #calmDown = (): void => {
    const current = this.#keepalive;
    if (current !== undefined)
      this.#keepalive = { ...current, timeMs: Math.min(maxKeepaliveTimeMs, current.timeMs * 2) };
  };
  #closed = false;

  constructor(options: TransportOptions = {}) {
    this.#tls = options.tls;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? defaultConnectTimeoutMs;
    const timeMs = nonNegativeMs("keepaliveTimeMs", options.keepaliveTimeMs ?? defaultKeepaliveTimeMs);
    const timeoutMs = nonNegativeMs(
      "keepaliveTimeoutMs",
      options.keepaliveTimeoutMs ?? defaultKeepaliveTimeoutMs,
    );
    this.#keepalive = timeMs > 0 ? { timeMs, timeoutMs: Math.max(1, timeoutMs) } : undefined;
  }

  /** The keepalive time new sessions use, ms (0: off); doubled by a server's "too_many_pings". */
  get keepaliveTimeMs(): number {
    return this.#keepalive?.timeMs ?? 0;
  }

  /**
   * The pool's key for `url`: its origin, as `https://` when the connection uses TLS (an `https:` URL,
   * or TLS options given to the pool).
   */
  authorityOf(url: URL): string {
    return `${tlsFor(url, this.#tls) === undefined ? "http" : "https"}://${url.host}`;
  }

  /**
   * Opens a stream to `authority` now, on a session still connecting if need be (node sends it once
   * connected; a connection failure closes it while still `pending`).
   * @throws RpcError UNAVAILABLE after {@link close}.
   */
  request(authority: string, headers: http2.OutgoingHttpHeaders): http2.ClientHttp2Stream {
    return this.#stream(this.#session(authority), headers);
  }

  /**
   * Opens a stream to `authority` once its session's handshake is complete. Rejects with an
   * `RpcError`: a connect failure (UNAVAILABLE, see `connectFailureKind`), CANCELLED when `signal`
   * aborts first, UNAVAILABLE after {@link close}.
   */
  async requestConnected(
    authority: string,
    headers: http2.OutgoingHttpHeaders,
    signal?: AbortSignal,
  ): Promise<http2.ClientHttp2Stream> {
    // A call cancelled (or out of time) before it starts opens no stream: nothing reaches the server.
    if (signal?.aborted) throw RpcError.from(signal.reason, Code.Canceled);
    const pooled = this.#session(authority);
    if (!pooled.handshaken) {
      // Node runs this before it reads the next frame (a GOAWAY sent with the SETTINGS): only close()
      // can have taken the session meanwhile.
      await raceSignal(pooled.ready, signal);
      if (this.#closed) throw closedError();
    }
    return this.#stream(pooled, headers);
  }

  /** Establishes a session to `authority` ahead of its first stream; rejects as {@link requestConnected}. */
  async connect(authority: string, signal?: AbortSignal): Promise<void> {
    await raceSignal(this.#session(authority).ready, signal);
  }

  /**
   * Lets go of `authority`'s session: GOAWAY now, no new stream on it, the streams open on it finish
   * (an upstream removed from a proxy's set). The next request to it opens a new session.
   */
  release(authority: string): void {
    const pooled = this.#sessions.get(authority);
    if (pooled === undefined) return;
    this.#sessions.delete(authority);
    if (pooled.handshaken) pooled.session.close();
    else void pooled.close(0);
  }

  /** Closes every session (GOAWAY); streams still open after `graceMs` are cancelled. */
  async close(graceMs = 0): Promise<void> {
    this.#closed = true;
    const sessions = [...this.#sessions.values()];
    this.#sessions.clear();
    await Promise.all(sessions.map((pooled) => pooled.close(graceMs)));
  }

  #session(authority: string): PooledSession {
    if (this.#closed) throw closedError();
    const current = this.#sessions.get(authority);
    if (current !== undefined && !unusable(current.session)) return current;
    const url = new URL(authority);
    const options: http2.SecureClientSessionOptions = {
      ...(url.protocol === "https:" ? tlsConnectOptions(this.#tls ?? {}, url.hostname) : {}),
      // Response header lists past 64 KiB are not for a health client: the server is told so.
      settings: { maxHeaderListSize: maxResponseHeaderListBytes },
    };
    const pooled = new PooledSession(
      http2.connect(authority, options),
      authority,
      this.#connectTimeoutMs,
      this.#forget,
      this.#keepalive,
      this.#calmDown,
    );
    this.#sessions.set(authority, pooled);
    return pooled;
  }

  #stream(pooled: PooledSession, headers: http2.OutgoingHttpHeaders): http2.ClientHttp2Stream {
    const stream = pooled.session.request(headers, requestOptions);
    pooled.track(stream);
    return stream;
  }
}

function nonNegativeMs(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0 || value > 2_147_483_647)
    throw new ConfigError(`${name} must be a whole number of milliseconds from 0 to 2147483647`);
  return value;
}

function raceSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(RpcError.from(signal.reason, Code.Canceled));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(RpcError.from(signal.reason, Code.Canceled));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
