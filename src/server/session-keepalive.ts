import type http2 from "node:http2";

/** Keepalive settings of one HTTP/2 session. @internal */
export interface KeepaliveSettings {
  /** Idle time (no byte received) after which a PING is sent, ms; 0 turns keepalive off. */
  readonly timeMs: number;
  /** Time the PING ACK may take, ms, before the session is declared dead. */
  readonly timeoutMs: number;
}

/** What a {@link SessionKeepalive} asks of its owner. @internal */
export interface KeepaliveOwner {
  /** Whether an idle session is worth a PING now (a client pings only while streams are open). */
  wantsPing(): boolean;
  /** The peer answered no PING in time: destroy the session (`message` says why). */
  dead(message: string): void;
}

/** The longest time between two looks at the socket, ms: bounds how late past the idle time a PING goes. */
const maxPeriodMs = 5_000;

/**
 * The keepalive look period for an idle time: a quarter of it, at most 5 s. A PING goes out between
 * `timeMs` and `timeMs` + period after the last byte received, so a peer that went silent is declared
 * dead at most `timeMs` + period + `timeoutMs` after its last byte.
 * @internal
 */
export function keepalivePeriodMs(timeMs: number): number {
  return Math.max(1, Math.min(maxPeriodMs, Math.floor(timeMs / 4)));
}

function onTick(keepalive: SessionKeepalive): void {
  keepalive.tick();
}

function onPingTimeout(keepalive: SessionKeepalive): void {
  keepalive.expire();
}

/**
 * HTTP/2 keepalive of one session, client or server: when nothing has been received for `timeMs`, a PING
 * is sent, and the session is declared dead when its ACK has not come within `timeoutMs`. A peer whose host
 * vanished (TCP open, every byte dropped: a partition, a frozen VM) is thus noticed in seconds instead of
 * when the kernel gives up on the socket, hours later. node's `session.ping()` alone would wait forever for
 * such a peer's ACK: our own timer ends the wait.
 *
 * Activity is read from the socket's byte counter, which node keeps while nghttp2 consumes the socket, at
 * one unref'd timer per session every {@link keepalivePeriodMs}: no listener on any stream or frame.
 * @internal
 */
export class SessionKeepalive {
  readonly #session: http2.Http2Session;
  readonly #settings: KeepaliveSettings;
  readonly #owner: KeepaliveOwner;
  readonly #periodMs: number;
  #lastRead = -1;
  #idleSince: number;
  #timer: NodeJS.Timeout | undefined;
  #pingTimer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(session: http2.Http2Session, settings: KeepaliveSettings, owner: KeepaliveOwner) {
    this.#session = session;
    this.#settings = settings;
    this.#owner = owner;
    this.#periodMs = keepalivePeriodMs(settings.timeMs);
    this.#idleSince = Date.now();
    this.#timer = setTimeout(onTick, this.#periodMs, this).unref();
    session.once("close", () => this.stop());
  }

  /** @internal One look at the socket (the timer's callback). */
  tick(): void {
    this.#timer = undefined;
    const session = this.#session;
    if (this.#stopped || session.destroyed || session.closed) return;
    const read = bytesRead(session);
    const now = Date.now();
    if (read !== this.#lastRead) {
      this.#lastRead = read;
      this.#idleSince = now;
    } else if (now - this.#idleSince >= this.#settings.timeMs && this.#owner.wantsPing()) {
      this.#ping();
      return;
    }
    this.#timer = setTimeout(onTick, this.#periodMs, this).unref();
  }

  /** @internal The PING's ACK did not come in time (the timer's callback). */
  expire(): void {
    this.#pingTimer = undefined;
    if (this.#stopped) return;
    this.stop();
    this.#owner.dead(`keepalive timeout: no PING ACK within ${this.#settings.timeoutMs} ms`);
  }

  /** Stops both timers (the session closed). */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#pingTimer !== undefined) clearTimeout(this.#pingTimer);
    this.#timer = undefined;
    this.#pingTimer = undefined;
  }

  #ping(): void {
    this.#pingTimer = setTimeout(onPingTimeout, this.#settings.timeoutMs, this).unref();
    // A session that cannot send the PING (closing, too many unacknowledged) is left to the timer.
    try {
      this.#session.ping((error) => {
        if (this.#stopped || error !== null) return;
        clearTimeout(this.#pingTimer);
        this.#pingTimer = undefined;
        this.#lastRead = bytesRead(this.#session);
        this.#idleSince = Date.now();
        this.#timer = setTimeout(onTick, this.#periodMs, this).unref();
      });
    } catch {
      // ERR_HTTP2_INVALID_SESSION: the session is going; its close stops the timers.
    }
  }
}

function bytesRead(session: http2.Http2Session): number {
  return session.socket?.bytesRead ?? 0;
}
