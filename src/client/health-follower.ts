import { type Clock, systemClock, type TimerHandle } from "../clock.ts";
import { ServingStatus } from "../codec/health-types.ts";
import { Code } from "../wire/code.ts";
import { RpcError } from "../wire/rpc-error.ts";
import { backoffDelay, type ResolvedBackoff } from "./picker-backoff.ts";

/**
 * What following a remote's health needs of a health client: `createHealthClient(url)` fits. Used by
 * `remoteHealthCheck` and, one per endpoint, by the endpoint picker (`healthSource`).
 */
export interface RemoteHealthSource {
  /** `grpc.health.v1.Health/Check` of `service`: for polling, and for a server without Watch. */
  check(service: string, options: { signal?: AbortSignal; timeoutMs?: number }): Promise<ServingStatus>;
  /** `grpc.health.v1.Health/Watch` of `service`: the current status, then every change, until the signal aborts. */
  watch(service: string, options: { signal: AbortSignal }): AsyncIterable<ServingStatus>;
  /**
   * Releases the connection. An endpoint picker calls it on the sources it made when it closes; a
   * `remoteHealthCheck` never does (its caller owns the client).
   */
  close?(): Promise<void>;
}

/** What a {@link HealthFollower} reports to its owner, synchronously and in order. @internal */
export interface FollowerListener {
  /**
   * The remote's status changed on the current stream (the first status of a stream or poll run after
   * a loss always counts as a change). `via` is `watch`, `check` or `check: not found`.
   */
  onStatus(status: ServingStatus, via: string): void;
  /** The stream ended (`error` undefined: the server ended it cleanly) or failed, or a polling Check failed. */
  onLost(error: unknown): void;
  /**
   * A lost stream is reopened after `delayMs` (polling: the next Check after a failed one);
   * `attempt` counts the reopenings since the last status.
   */
  onReconnect?(attempt: number, delayMs: number): void;
}

/** How a {@link HealthFollower} follows; one object may serve many followers. @internal */
export interface FollowerOptions {
  /** `watch` (default): one Watch stream; `poll`: a Check every `pollIntervalMs`. */
  readonly mode?: "watch" | "poll";
  /**
   * Reopen a lost stream by itself after this backoff; a server without Watch is then polled. Without
   * it the follower waits to be asked again ({@link HealthFollower.follow}), and a server without
   * Watch is left alone for good: its owner asks with Check at its own pace.
   */
  readonly backoff?: ResolvedBackoff;
  /** Polling period, ms. Default 1000. */
  readonly pollIntervalMs?: number;
  /**
   * Deadline of each polling Check, ms, and of a Watch stream's first status (a server sends the current
   * status at once; one that accepts the stream and says nothing is treated as lost). Default 1000.
   */
  readonly checkTimeoutMs?: number;
  readonly clock?: Clock;
  /** Jitter's random numbers in [0, 1). Default `Math.random`. */
  readonly random?: () => number;
}

/**
 * Follows one service on one remote: a Watch stream (or polling Check), reopened with backoff when it
 * is lost, reporting each status change and each loss to a {@link FollowerListener} until closed. The
 * one place that knows how a remote's health is followed; the remote-health check and the endpoint
 * picker only decide what a status means to them.
 * @internal
 */
export class HealthFollower {
  readonly #source: RemoteHealthSource;
  readonly #service: string;
  readonly #listener: FollowerListener;
  readonly #poll: boolean;
  readonly #backoff: ResolvedBackoff | undefined;
  readonly #pollIntervalMs: number;
  readonly #checkTimeoutMs: number;
  readonly #clock: Clock;
  readonly #random: () => number;
  #status: ServingStatus | undefined = undefined;
  #attempt = 0;
  #controller: AbortController | undefined = undefined;
  #sleep: { handle: TimerHandle; wake: () => void } | undefined = undefined;
  // The deadline of the current Watch stream's first status.
  #firstTimer: TimerHandle | undefined = undefined;
  #running = false;
  #watchUnsupported = false;
  #closed = false;

  constructor(
    source: RemoteHealthSource,
    service: string,
    options: FollowerOptions,
    listener: FollowerListener,
  ) {
    this.#source = source;
    this.#service = service;
    this.#listener = listener;
    this.#poll = options.mode === "poll";
    this.#backoff = options.backoff;
    this.#pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.#checkTimeoutMs = options.checkTimeoutMs ?? 1000;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
  }

  /** The remote's last status on the current stream; undefined before its first, after a loss, once closed. */
  get status(): ServingStatus | undefined {
    return this.#status;
  }

  /**
   * Starts following. A no-op while following, once closed, and (without backoff) once the server
   * turned out to have no Watch; without backoff, call it again after a loss to reopen the stream.
   */
  follow(): void {
    if (this.#running || this.#closed || this.#watchUnsupported) return;
    this.#running = true;
    void (this.#poll ? this.#pollLoop() : this.#watchLoop()).finally(() => {
      this.#running = false;
    });
  }

  /** Stops for good: aborts the stream or Check with `reason` and cancels the pending reopen. */
  close(reason?: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#status = undefined;
    this.#controller?.abort(reason);
    this.#controller = undefined;
    this.#clearFirstTimer();
    const sleep = this.#sleep;
    if (sleep !== undefined) {
      this.#clock.clearTimeout(sleep.handle);
      sleep.wake();
    }
  }

  async #watchLoop(): Promise<void> {
    while (!this.#closed) {
      const failure = await this.#watchOnce();
      if (this.#closed) return;
      this.#lose(failure);
      if (failure instanceof RpcError && failure.code === Code.Unimplemented) {
        this.#watchUnsupported = true;
        // A server without Watch still answers Check: poll it, if this follower paces itself.
        if (this.#backoff !== undefined) await this.#pollLoop();
        return;
      }
      if (this.#backoff === undefined) return;
      const delayMs = backoffDelay(this.#attempt++, this.#backoff, this.#random);
      this.#listener.onReconnect?.(this.#attempt, delayMs);
      await this.#wait(delayMs);
    }
  }

  /** One Watch stream, to its end; returns what ended it (undefined: the server, cleanly). */
  async #watchOnce(): Promise<unknown> {
    const controller = new AbortController();
    this.#controller = controller;
    const silent = new RpcError(
      Code.DeadlineExceeded,
      `no status on the Watch stream within ${this.#checkTimeoutMs} ms`,
    );
    this.#firstTimer = this.#clock.setTimeout(() => {
      this.#firstTimer = undefined;
      controller.abort(silent);
    }, this.#checkTimeoutMs);
    try {
      for await (const status of this.#source.watch(this.#service, { signal: controller.signal })) {
        this.#clearFirstTimer();
        if (this.#closed) return undefined;
        this.#answer(status, "watch");
      }
    } catch (error) {
      return controller.signal.reason === silent ? silent : error;
    } finally {
      this.#clearFirstTimer();
    }
    // A health client's watch ends quietly when its signal aborts: the silent server still failed.
    if (controller.signal.reason === silent) return silent;
    return undefined;
  }

  #clearFirstTimer(): void {
    if (this.#firstTimer !== undefined) this.#clock.clearTimeout(this.#firstTimer);
    this.#firstTimer = undefined;
  }

  async #pollLoop(): Promise<void> {
    while (!this.#closed) {
      const controller = new AbortController();
      this.#controller = controller;
      try {
        const status = await this.#source.check(this.#service, {
          signal: controller.signal,
          timeoutMs: this.#checkTimeoutMs,
        });
        if (this.#closed) return;
        this.#answer(status, "check");
      } catch (error) {
        if (this.#closed) return;
        if (error instanceof RpcError && error.code === Code.NotFound) {
          this.#answer(ServingStatus.ServiceUnknown, "check: not found");
        } else {
          this.#lose(error);
          // The next Check is the reopening: said like a Watch's, so a remote that never answered (whose
          // loss is no change to its owner) is still reported, with the cause, once.
          this.#listener.onReconnect?.(++this.#attempt, this.#pollIntervalMs);
        }
      }
      await this.#wait(this.#pollIntervalMs);
    }
  }

  #answer(status: ServingStatus, via: string): void {
    this.#attempt = 0;
    if (status === this.#status) return;
    this.#status = status;
    this.#listener.onStatus(status, via);
  }

  #lose(error: unknown): void {
    this.#status = undefined;
    this.#listener.onLost(error);
  }

  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        this.#sleep = undefined;
        resolve();
      };
      this.#sleep = { handle: this.#clock.setTimeout(wake, ms), wake };
    });
  }
}
