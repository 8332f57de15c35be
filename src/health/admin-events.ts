import type { PlainHttpResponse, PlainHttpStream } from "../server/service-types.ts";
import type { HealthRegistry } from "./registry.ts";

/** Options of {@link AdminEventStreams}. */
export interface AdminEventStreamOptions {
  /** Most event streams open at once; one more gets 429. */
  maxStreams: number;
  /** Interval of the `: heartbeat` comment, ms: keeps proxies and idle timers from closing a quiet stream. */
  heartbeatMs: number;
  /** Changes within this window go out as one event, ms: a flapping check cannot flood the streams. */
  coalesceMs?: number;
  /**
   * For state that changes without a status change (a check's attempts, a registry session), ms: the state
   * is read this often while a stream is open, and sent when it differs from the last one sent (uptime
   * aside). 0 (default): only on changes.
   */
  refreshMs?: number;
}

/** Default {@link AdminEventStreamOptions.maxStreams}: a few operators' pages, not a fan-out service. */
export const defaultMaxEventStreams = 8;
/** Default {@link AdminEventStreamOptions.heartbeatMs}. */
export const defaultEventHeartbeatMs = 15_000;
const defaultCoalesceMs = 50;

const streamHeaders = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  // nginx buffers responses by default; an event held in a buffer is no live update.
  "x-accel-buffering": "no",
} as const;

/**
 * `GET /admin/events`: server-sent events (`text/event-stream`) of a registry's state. Each event is
 * `event: health` with `data:` the very JSON `GET /admin/health` answers — at once on connect, then after
 * each change (changes within `coalesceMs` together) and on drain, resume and shutdown. Bounded like
 * Watch: at most `maxStreams` open (429 beyond), a slow reader whose buffer fills is cut off rather than
 * queued for (it reconnects and gets the current state), and every stream ends when the registry shuts
 * down (server close), so no page holds a closing server up to its grace deadline.
 */
export class AdminEventStreams {
  readonly #streams = new Set<PlainHttpStream>();
  readonly #describe: () => object;
  readonly #options: Required<AdminEventStreamOptions>;
  #reserved = 0;
  #heartbeat: NodeJS.Timeout | undefined;
  #refresh: NodeJS.Timeout | undefined;
  // What the last broadcast state said, uptime left out (see refreshMs).
  #lastKey = "";
  #pending: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(registry: HealthRegistry, describe: () => object, options: AdminEventStreamOptions) {
    this.#describe = describe;
    this.#options = { coalesceMs: defaultCoalesceMs, refreshMs: 0, ...options };
    registry.onChange(() => this.#schedule());
    registry.onModeChange((mode) => {
      if (mode === "shutdown") this.#close();
      else this.#schedule();
    });
  }

  /** Streams open now (and about to open). */
  get size(): number {
    return this.#reserved;
  }

  /** The answer to one `GET /admin/events`. */
  open(): PlainHttpResponse {
    if (this.#closed) return refuse(503, "the server is shutting down");
    if (this.#reserved >= this.#options.maxStreams)
      return refuse(429, `${this.#options.maxStreams} event streams are open already; close one first`);
    // Reserved now, not when the head has gone: requests in the same turn cannot all pass the check.
    this.#reserved++;
    return { status: 200, headers: { ...streamHeaders }, stream: (out) => this.#attach(out) };
  }

  #attach(out: PlainHttpStream): void {
    if (out.signal.aborted || this.#closed) {
      this.#reserved--;
      out.end();
      return;
    }
    this.#streams.add(out);
    out.signal.addEventListener("abort", () => this.#detach(out), { once: true });
    this.#heartbeat ??= setInterval(() => this.#broadcast(": heartbeat\n\n"), this.#options.heartbeatMs);
    this.#heartbeat.unref();
    if (this.#options.refreshMs > 0 && this.#refresh === undefined) {
      this.#refresh = setInterval(() => this.#refreshIfChanged(), this.#options.refreshMs);
      this.#refresh.unref();
    }
    send(out, healthEvent(this.#describe()));
  }

  #detach(out: PlainHttpStream): void {
    if (!this.#streams.delete(out)) return;
    this.#reserved--;
    if (this.#streams.size === 0) {
      clearInterval(this.#heartbeat);
      this.#heartbeat = undefined;
      clearInterval(this.#refresh);
      this.#refresh = undefined;
      this.#lastKey = "";
    }
  }

  #refreshIfChanged(): void {
    if (this.#pending !== undefined || this.#streams.size === 0) return;
    const state = this.#describe();
    if (stateKey(state) !== this.#lastKey) this.#broadcastState(state);
  }

  #broadcastState(state: object): void {
    this.#lastKey = stateKey(state);
    this.#broadcast(healthEvent(state));
  }

  #schedule(): void {
    if (this.#pending !== undefined || this.#streams.size === 0) return;
    this.#pending = setTimeout(() => this.#flush(), this.#options.coalesceMs);
    this.#pending.unref();
  }

  #flush(): void {
    clearTimeout(this.#pending);
    this.#pending = undefined;
    if (this.#streams.size > 0) this.#broadcastState(this.#describe());
  }

  #broadcast(frame: string): void {
    for (const out of [...this.#streams]) send(out, frame);
  }

  // The last state (shut down, every status NOT_SERVING) goes out before the streams end.
  #close(): void {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    clearInterval(this.#refresh);
    for (const out of [...this.#streams]) out.end();
  }
}

function send(out: PlainHttpStream, frame: string): void {
  if (!out.write(frame)) out.end();
}

// The state without what changes by itself every millisecond (uptime).
function stateKey(state: object): string {
  return JSON.stringify(state, (key, value: unknown) => (key === "uptimeMs" ? undefined : value));
}

// JSON.stringify puts no line breaks in its output: one `data:` line is the whole event.
function healthEvent(state: object): string {
  return `event: health\ndata: ${JSON.stringify(state)}\n\n`;
}

function refuse(status: number, message: string): PlainHttpResponse {
  return {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
    body: JSON.stringify({ error: message }),
  };
}
