import http2 from "node:http2";
import { type ExchangeListener, kExchange } from "./exchange.ts";
import type { StreamTracker } from "./session-streams.ts";

const { NGHTTP2_CANCEL } = http2.constants;

type WatchedStream = http2.ServerHttp2Stream & {
  [kExchange]?: { listener: ExchangeListener | undefined };
};

/** How often a watchdog sweeps: a quarter of its shortest timeout, at most once a second. @internal */
export function sweepPeriodMs(...timeoutsMs: number[]): number {
  let period = 1_000;
  for (const timeout of timeoutsMs) if (timeout > 0) period = Math.min(period, Math.floor(timeout / 4));
  return Math.max(10, period);
}

/** Sweeps a timeout of `timeoutMs` takes to be sure it passed: one more than fit, as a stream opens between two. @internal */
export function sweepsFor(timeoutMs: number, periodMs: number): number {
  return timeoutMs > 0 ? Math.ceil(timeoutMs / periodMs) + 1 : 0;
}

// A stream's response bytes queued at the last sweep that saw some, and the sweep since which none drained.
interface Stall {
  queued: number;
  since: number;
}

/**
 * The request-body and write-stall timeouts of one HTTP/2 session (hardening II items 2 and 3): a stream
 * that has not ended its request `bodyTimeoutMs` after it opened gets its answer (or RST_STREAM(CANCEL)
 * once its response has started), and a stream whose queued response bytes have not drained for
 * `stallTimeoutMs` is reset with RST_STREAM(CANCEL), which frees them; a session whose socket has had bytes
 * queued and drained none of them for `stallTimeoutMs` is destroyed.
 *
 * Cheap on the hot path: a stream costs one Map entry (its opening sweep number, not a clock read); no
 * timer per call. One unref'd interval per session runs while the
 * session has streams and stops at the first sweep that finds none. Ages are counted in sweeps, so a
 * timeout fires between its value and one sweep period later (never early).
 *
 * Why CANCEL for a stall, not ENHANCE_YOUR_CALM: a peer that does not read generates no load; the server
 * simply stops waiting for it, which is what CANCEL says (RFC 9113 §7) and what gRPC clients report as
 * CANCELLED, while ENHANCE_YOUR_CALM would read as RESOURCE_EXHAUSTED, a verdict on the peer's traffic.
 * @internal
 */
export class StreamWatchdog implements StreamTracker {
  readonly #session: http2.ServerHttp2Session;
  readonly #destroyConnection: () => void;
  readonly #periodMs: number;
  readonly #bodySweeps: number;
  readonly #stallSweeps: number;
  readonly #streams = new Map<WatchedStream, number>();
  readonly #stalls = new Map<WatchedStream, Stall>();
  #socketStall: Stall | undefined = undefined;
  #sweep = 0;
  #timer: NodeJS.Timeout | undefined = undefined;

  /**
   * `destroyConnection` ends the session and its socket at once: node:http2's own `destroy()` would wait for
   * the socket to flush, which a stalled one never does, and its socket proxy refuses `destroy()`.
   */
  constructor(
    session: http2.ServerHttp2Session,
    bodyTimeoutMs: number,
    stallTimeoutMs: number,
    destroyConnection: () => void,
  ) {
    this.#session = session;
    this.#destroyConnection = destroyConnection;
    this.#periodMs = sweepPeriodMs(bodyTimeoutMs, stallTimeoutMs);
    this.#bodySweeps = sweepsFor(bodyTimeoutMs, this.#periodMs);
    this.#stallSweeps = sweepsFor(stallTimeoutMs, this.#periodMs);
    session.once("close", () => this.#stop());
  }

  /** True when either timeout is on. */
  static wanted(bodyTimeoutMs: number, stallTimeoutMs: number): boolean {
    return bodyTimeoutMs > 0 || stallTimeoutMs > 0;
  }

  /** A stream opened on its session (the session's {@link StreamTracker}). */
  streamOpened(stream: WatchedStream): void {
    this.#streams.set(stream, this.#sweep);
    if (this.#timer === undefined) {
      this.#timer = setInterval(onSweep, this.#periodMs, this);
      this.#timer.unref();
    }
  }

  // Forgotten at once: a closed stream left in the map until the next sweep would be kept alive by it.
  streamClosed(stream: WatchedStream): void {
    this.#forget(stream);
  }

  #forget(stream: WatchedStream): void {
    this.#streams.delete(stream);
    if (this.#stalls.size > 0) this.#stalls.delete(stream);
  }

  #stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** @internal One sweep (the interval's callback). */
  sweep(): void {
    const sweep = ++this.#sweep;
    const session = this.#session;
    if (session.destroyed) {
      this.#stop();
      return;
    }
    if (this.#stallSweeps > 0 && this.#socketStalledFor(sweep) >= this.#stallSweeps) {
      // The peer reads nothing at all: what the streams wrote waits in the socket, unsent. (hardening II item 3)
      this.#destroyConnection();
      return;
    }
    if (this.#streams.size === 0) {
      if (this.#socketStall === undefined) this.#stop();
      return;
    }
    let stalled: WatchedStream[] | undefined;
    // By key, then get(): `for (const [stream, opened] of map)` makes an entry array per stream on each sweep,
    // garbage every second for each of 100,000 idle Watch streams, which keeps V8 from shrinking its heap.
    for (const stream of this.#streams.keys()) {
      const opened = this.#streams.get(stream)!;
      if (stream.destroyed) {
        this.#forget(stream);
        continue;
      }
      if (
        this.#bodySweeps > 0 &&
        sweep - opened >= this.#bodySweeps &&
        !stream.readableEnded &&
        !stream.writableEnded
      ) {
        requestTimedOut(stream);
        continue;
      }
      if (this.#stallSweeps > 0 && this.#stalledFor(stream, sweep) >= this.#stallSweeps) {
        stalled ??= [];
        stalled.push(stream);
      }
    }
    if (stalled === undefined) return;
    for (const stream of stalled) {
      this.#stalls.delete(stream);
      stream.close(NGHTTP2_CANCEL);
    }
  }

  /**
   * Sweeps since the session's socket last drained any of the bytes queued on it (0 when none are).
   * nghttp2 hands whole responses to the socket once their windows allow, so a peer that opened its windows
   * but stopped reading TCP leaves them there, on no stream. node:http2 writes to the socket's handle
   * directly, past the socket's own buffer: libuv's write queue size is the one count of them.
   */
  #socketStalledFor(sweep: number): number {
    const handle = (this.#session.socket as { _handle?: { writeQueueSize?: number } } | undefined)?._handle;
    const queued = handle?.writeQueueSize ?? 0;
    const stall = this.#socketStall;
    if (queued === 0) {
      this.#socketStall = undefined;
      return 0;
    }
    if (stall === undefined || queued < stall.queued) {
      this.#socketStall = { queued, since: sweep };
      return 0;
    }
    stall.queued = queued;
    return sweep - stall.since;
  }

  // Sweeps since `stream` last drained any of its queued response bytes (0 when none are queued).
  #stalledFor(stream: WatchedStream, sweep: number): number {
    const queued = stream.bufferSize;
    const stall = this.#stalls.get(stream);
    if (queued === 0) {
      if (stall !== undefined) this.#stalls.delete(stream);
      return 0;
    }
    if (stall === undefined || queued < stall.queued) {
      this.#stalls.set(stream, { queued, since: sweep });
      return 0;
    }
    stall.queued = queued;
    return sweep - stall.since;
  }
}

function onSweep(watchdog: StreamWatchdog): void {
  watchdog.sweep();
}

// The request did not end in time: the call's own answer when nothing was sent yet, else (or when the
// stream's listener has no answer to give) RST_STREAM(CANCEL).
function requestTimedOut(stream: WatchedStream): void {
  const listener = stream.headersSent ? undefined : stream[kExchange]?.listener;
  if (listener?.onRequestTimeout !== undefined) listener.onRequestTimeout();
  else stream.close(NGHTTP2_CANCEL);
}
