import { type Clock, systemClock, type TimerHandle } from "../clock.ts";
import { ConfigError } from "../wire/config-error.ts";
import type { HealthRegistry } from "./registry.ts";

/**
 * One probe attempt. It passes when it returns or resolves (anything but `false`), fails when it
 * throws, rejects or returns `false`. `signal` aborts at the check's timeout (and when the runner
 * closes): a well-behaved check stops its work then.
 */
export type CheckFunction = (signal: AbortSignal) => unknown;

/** The part of a check that says *what* to probe; the built-in checks return one of these. */
export interface CheckProbe {
  /** Names the check in reasons, the admin surface and logs; unique within a runner. */
  readonly name: string;
  /** What is probed, for operators (the admin surface, the status page): a URL or a command. */
  readonly target?: string;
  /** One attempt; {@link CheckFunction} says what passes. */
  readonly run: CheckFunction;
  /** Releases what the probe holds (a histogram, a watch stream) when the check is removed. */
  readonly close?: () => void | Promise<void>;
  /**
   * For probes that learn of changes by themselves (a Watch stream): the runner passes a function that
   * starts an attempt now instead of at the next tick (ignored while one runs). Returns an unsubscribe.
   */
  readonly subscribe?: (rerun: () => void) => () => void;
}

/**
 * A check bound to services, with Kubernetes probe semantics: it runs every `intervalMs` (± jitter),
 * each attempt limited to `timeoutMs`; after `failureThreshold` consecutive failures its services turn
 * NOT_SERVING (reason: check name and error), after `successThreshold` consecutive successes they
 * turn back.
 */
export interface HealthCheck extends CheckProbe {
  /** Services this check holds down while failing; `""` is the whole server. */
  readonly services: readonly string[];
  /** Default 10,000 ms (Kubernetes `periodSeconds: 10`). */
  readonly intervalMs?: number;
  /** Default 1,000 ms (Kubernetes `timeoutSeconds: 1`). */
  readonly timeoutMs?: number;
  /** Wait before the first attempt. Default 0. */
  readonly initialDelayMs?: number;
  /** Default 3. */
  readonly failureThreshold?: number;
  /** Default 1. */
  readonly successThreshold?: number;
  /**
   * Fraction of `intervalMs` by which each wait varies at random, both ways, so a fleet started
   * together does not probe a shared dependency in step. The first attempt is delayed by up to this
   * fraction too. Default 0.1; 0 disables.
   */
  readonly jitter?: number;
  /**
   * Start as passing: the services keep their status until the check fails `failureThreshold` times, as a
   * Kubernetes liveness probe starts. Default false: a check that has not yet passed holds its services
   * NOT_SERVING (reason `NAME: not passed yet`, then `NAME: <its last error>`) until `successThreshold`
   * successes, as a Kubernetes readiness probe starts failing.
   */
  readonly initiallyPassing?: boolean;
  /** @deprecated The opposite of {@link initiallyPassing}, kept for callers that set it; starting failing is the default. */
  readonly startFailing?: boolean;
}

/** What the runner knows about one check now. */
export interface CheckState {
  readonly name: string;
  /** The services the check holds down while failing. */
  readonly services: readonly string[];
  /** Whether the check counts as passing now (thresholds applied), not how the last attempt went. */
  readonly passing: boolean;
  /** Failed attempts in a row, up to now. */
  readonly consecutiveFailures: number;
  /** Passed attempts in a row, up to now. */
  readonly consecutiveSuccesses: number;
  /** Attempts counted so far (a tick skipped because the previous attempt still hangs counts as one). */
  readonly attempts: number;
  /** The last failure's message, kept after recovery. */
  readonly lastError: string | undefined;
  /** Whether an attempt has ever passed (or the check started as passing). */
  readonly everPassed: boolean;
  /** Time of the last tick on the runner's clock, attempted or skipped; undefined before the first. */
  readonly lastAttemptAt: number | undefined;
  /** True while an attempt is running (or hanging past its timeout). */
  readonly running: boolean;
  /** What is probed (the check's `target`), if it said. */
  readonly target: string | undefined;
  /** How long the last concluded attempt took, ms (a timed-out one: its timeout); undefined before. */
  readonly lastDurationMs: number | undefined;
  /** When the next attempt is due on the runner's clock; undefined while one runs and once stopped. */
  readonly nextAttemptAt: number | undefined;
}

/** Options of a {@link HealthCheckRunner}: its clock and randomness, injectable for tests. */
export interface CheckRunnerOptions {
  /** Time and timers; {@link systemClock} (unref'd timers) by default. */
  clock?: Clock;
  /** Source of randomness for jitter, `[0, 1)`; `Math.random` by default. */
  random?: () => number;
}

const defaults = {
  intervalMs: 10_000,
  timeoutMs: 1_000,
  initialDelayMs: 0,
  failureThreshold: 3,
  successThreshold: 1,
  jitter: 0.1,
} as const;

// Reasons land in grpc-message-free places (admin JSON, events) but a check's error text can be long.
const maxReasonLength = 300;

interface Running {
  readonly check: Required<Omit<HealthCheck, "close" | "subscribe" | "startFailing" | "target">> &
    Pick<HealthCheck, "close" | "subscribe" | "target">;
  passing: boolean;
  consecutiveFailures: number;
  consecutiveSuccesses: number;
  attempts: number;
  lastError: string | undefined;
  everPassed: boolean;
  lastAttemptAt: number | undefined;
  lastDurationMs: number | undefined;
  nextAttemptAt: number | undefined;
  /** The attempt in flight, if any; stays set while a timed-out attempt hangs on. */
  inFlight: AbortController | undefined;
  timer: TimerHandle | undefined;
  closed: boolean;
  unsubscribe: (() => void) | undefined;
}

/**
 * Runs health checks against a registry: each check has one attempt at a time (a hung attempt counts
 * as failed at its timeout, once; while it still hangs, each further tick counts one more failure
 * without starting another attempt), and its verdicts reach the registry as
 * `markFailing`/`markPassing` under the check's name.
 */
export class HealthCheckRunner {
  readonly #registry: HealthRegistry;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #checks = new Map<string, Running>();
  #closed = false;

  constructor(registry: HealthRegistry, options: CheckRunnerOptions = {}) {
    this.#registry = registry;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
  }

  /**
   * Adds and starts a check. Its services are registered at once, NOT_SERVING until the check passes
   * (unless `initiallyPassing`).
   * Returns a function that removes it.
   *
   * @throws TypeError for a duplicate name or an invalid setting.
   */
  add(check: HealthCheck): () => Promise<void> {
    if (this.#closed) throw new TypeError("the check runner is closed");
    if (this.#checks.has(check.name)) throw new ConfigError(`a check named '${check.name}' already exists`);
    const initiallyPassing = check.initiallyPassing ?? check.startFailing === false;
    const full = { ...defaults, ...check, initiallyPassing };
    validate(full);
    const state: Running = {
      check: full,
      passing: initiallyPassing,
      consecutiveFailures: 0,
      consecutiveSuccesses: 0,
      attempts: 0,
      lastError: undefined,
      everPassed: initiallyPassing,
      lastAttemptAt: undefined,
      lastDurationMs: undefined,
      nextAttemptAt: undefined,
      inFlight: undefined,
      timer: undefined,
      closed: false,
      unsubscribe: undefined,
    };
    this.#checks.set(check.name, state);
    for (const service of full.services) {
      if (initiallyPassing) this.#registry.markPassing(service, full.name, `${full.name}: registered`);
      else this.#registry.markFailing(service, full.name, `${full.name}: not passed yet`);
    }
    const firstDelay = full.initialDelayMs + full.intervalMs * full.jitter * this.#random();
    this.#schedule(state, firstDelay);
    state.unsubscribe = full.subscribe?.(() => this.#rerun(state));
    return () => this.remove(check.name);
  }

  /** Stops a check and lifts its hold on its services. */
  async remove(name: string): Promise<void> {
    const state = this.#checks.get(name);
    if (state === undefined) return;
    this.#checks.delete(name);
    this.#stop(state);
    for (const service of state.check.services) {
      if (this.#registry.has(service)) this.#registry.markPassing(service, name, `${name}: removed`);
    }
    await state.check.close?.();
  }

  /** The state of every check. */
  states(): CheckState[] {
    return [...this.#checks.values()].map((state) => ({
      name: state.check.name,
      services: state.check.services,
      passing: state.passing,
      consecutiveFailures: state.consecutiveFailures,
      consecutiveSuccesses: state.consecutiveSuccesses,
      attempts: state.attempts,
      lastError: state.lastError,
      everPassed: state.everPassed,
      lastAttemptAt: state.lastAttemptAt,
      running: state.inFlight !== undefined,
      target: state.check.target,
      lastDurationMs: state.lastDurationMs,
      nextAttemptAt: state.nextAttemptAt,
    }));
  }

  /**
   * Stops every check: no more attempts, in-flight ones aborted, probes' `close()` called. Statuses are
   * left as they are (the server's close drains them anyway).
   */
  async close(): Promise<void> {
    this.#closed = true;
    const states = [...this.#checks.values()];
    this.#checks.clear();
    for (const state of states) this.#stop(state);
    await Promise.all(states.map((state) => state.check.close?.()));
  }

  #stop(state: Running): void {
    state.closed = true;
    state.nextAttemptAt = undefined;
    state.unsubscribe?.();
    if (state.timer !== undefined) this.#clock.clearTimeout(state.timer);
    state.timer = undefined;
    state.inFlight?.abort(new DOMException("the health check was stopped", "AbortError"));
  }

  #schedule(state: Running, delay: number): void {
    if (state.closed) return;
    state.nextAttemptAt = this.#clock.now() + delay;
    state.timer = this.#clock.setTimeout(() => {
      state.timer = undefined;
      this.#tick(state);
    }, delay);
  }

  // An attempt now, in place of the one scheduled; a running attempt already covers the news.
  #rerun(state: Running): void {
    if (state.closed || state.inFlight !== undefined || state.timer === undefined) return;
    this.#clock.clearTimeout(state.timer);
    state.timer = undefined;
    this.#tick(state);
  }

  #nextDelay(state: Running): number {
    const { intervalMs, jitter } = state.check;
    return intervalMs * (1 + jitter * (2 * this.#random() - 1));
  }

  #tick(state: Running): void {
    state.attempts++;
    const started = this.#clock.now();
    state.lastAttemptAt = started;
    state.nextAttemptAt = undefined;
    if (state.inFlight !== undefined) {
      // The previous attempt hangs on past its timeout: never pile up a second one.
      this.#record(state, false, "previous attempt still running past its timeout");
      this.#schedule(state, this.#nextDelay(state));
      return;
    }
    const controller = new AbortController();
    state.inFlight = controller;
    let concluded = false;
    const conclude = (ok: boolean, error: string | undefined): void => {
      if (concluded) return;
      concluded = true;
      this.#clock.clearTimeout(timeout);
      if (state.closed) return;
      state.lastDurationMs = this.#clock.now() - started;
      this.#record(state, ok, error);
      this.#schedule(state, this.#nextDelay(state));
    };
    const timeoutMs = state.check.timeoutMs;
    const timeout = this.#clock.setTimeout(() => {
      controller.abort(new DOMException(`timed out after ${timeoutMs} ms`, "TimeoutError"));
      conclude(false, `timed out after ${timeoutMs} ms`);
    }, timeoutMs);
    const settled = (): void => {
      if (state.inFlight === controller) state.inFlight = undefined;
    };
    let result: unknown;
    try {
      result = state.check.run(controller.signal);
    } catch (error) {
      settled();
      conclude(false, errorText(error));
      return;
    }
    Promise.resolve(result).then(
      (value) => {
        settled();
        conclude(value !== false, value === false ? "returned false" : undefined);
      },
      (error: unknown) => {
        settled();
        conclude(false, errorText(error));
      },
    );
  }

  #record(state: Running, ok: boolean, error: string | undefined): void {
    const { name, services, failureThreshold, successThreshold } = state.check;
    if (ok) {
      state.consecutiveSuccesses++;
      state.consecutiveFailures = 0;
      if (!state.passing && state.consecutiveSuccesses >= successThreshold) {
        state.passing = true;
        const reason = state.everPassed ? `${name}: passing again` : `${name}: passed`;
        state.everPassed = true;
        for (const service of services) this.#registry.markPassing(service, name, reason);
      }
      return;
    }
    state.consecutiveFailures++;
    state.consecutiveSuccesses = 0;
    state.lastError = error;
    if (state.passing && state.consecutiveFailures < failureThreshold) return;
    state.passing = false;
    // Also while already failing, so the reason shown is the latest error.
    const reason = `${name}: ${error}`.slice(0, maxReasonLength);
    for (const service of services) this.#registry.markFailing(service, name, reason);
  }
}

function validate(
  check: Required<Omit<HealthCheck, "close" | "subscribe" | "startFailing" | "target">>,
): void {
  const positive = (value: number, field: string, min: number) => {
    if (!Number.isFinite(value) || value < min)
      throw new ConfigError(`check '${check.name}': ${field} must be ≥ ${min}`);
  };
  if (typeof check.run !== "function") throw new ConfigError(`check '${check.name}': run must be a function`);
  positive(check.intervalMs, "intervalMs", 1);
  positive(check.timeoutMs, "timeoutMs", 1);
  positive(check.initialDelayMs, "initialDelayMs", 0);
  positive(check.failureThreshold, "failureThreshold", 1);
  positive(check.successThreshold, "successThreshold", 1);
  if (!(check.jitter >= 0 && check.jitter < 1))
    throw new ConfigError(`check '${check.name}': jitter must be in [0, 1)`);
}

function errorText(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
