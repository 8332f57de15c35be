import { type Clock, systemClock, type TimerHandle } from "../clock.ts";
import { ServingStatus, servingStatusName } from "../codec/health-types.ts";
import { serviceKey } from "../health/service-key.ts";
import { Code } from "../wire/code.ts";
import { ConfigError } from "../wire/config-error.ts";
import { RpcError } from "../wire/rpc-error.ts";
import { parseTarget } from "./call-client.ts";
import type { EndpointSource } from "./endpoint-source.ts";
import { createHealthClient, type HealthClientOptions } from "./health-client.ts";
import {
  type FollowerListener,
  type FollowerOptions,
  HealthFollower,
  type RemoteHealthSource,
} from "./health-follower.ts";
import {
  newOutlierState,
  type OutlierOptions,
  type OutlierState,
  type ResolvedOutlier,
  recordFailure,
  recordSuccess,
  resolveOutlier,
  restore,
} from "./outlier-detector.ts";
import { type BackoffOptions, resolveBackoff } from "./picker-backoff.ts";
import type { PickerEvent, PickerListener } from "./picker-events.ts";

/** How calls are spread over the routable endpoints. */
export type PickPolicy = "round-robin" | "least-outstanding";

/** Options of {@link createEndpointPicker}. */
export interface EndpointPickerOptions {
  /**
   * A fixed list of upstream addresses (`http://host:port`, `host:port`, `tri://host:port`); duplicates
   * are ignored. Give this or `discovery`.
   */
  endpoints?: readonly string[];
  /**
   * A changing set of upstreams instead of a fixed list (a registry's providers of the service): each
   * endpoint is followed from when the source adds it to when it removes it. The picker does not own
   * the source (closing the picker only unsubscribes). Give this or `endpoints`.
   */
  discovery?: EndpointSource;
  /**
   * The service: with `group` and `version`, each endpoint's health is watched under the Dubbo service
   * key `group/service:version` (what dubbo-go consumers watch). `""` (default) is each server as a whole.
   */
  service?: string;
  /** Dubbo group of the service (part of the service key watched). Default none. */
  group?: string;
  /** Dubbo version of the service (part of the service key watched; `0.0.0` is none). Default none. */
  version?: string;
  /** `round-robin` (default) or `least-outstanding` (fewest calls in flight; ties taken in turn). */
  policy?: PickPolicy;
  /** Keep one Watch stream per endpoint (default), or `poll` with Check every `pollIntervalMs`. */
  healthMode?: "watch" | "poll";
  /** Polling period, ms. Default 1000. */
  pollIntervalMs?: number;
  /**
   * Deadline of each polling Check, ms, and of a Watch stream's first status (a server that takes the
   * stream and says nothing counts as lost). Default 1000.
   */
  checkTimeoutMs?: number;
  /**
   * How long an endpoint keeps its last status after its health stream is lost, ms, while the stream
   * is reopened; after it, the endpoint counts as not serving. Default 1000. A server that closes
   * gracefully says NOT_SERVING before its stream ends, so the grace only delays reacting to crashes.
   */
  lostStreamGraceMs?: number;
  /**
   * Panic threshold, 0–1, like Envoy's `healthy_panic_threshold`: when fewer than this share of the
   * endpoints are healthy, calls go to every reachable endpoint rather than overload the few healthy
   * ones. Default 0.5; 0 turns panic off (no healthy endpoint then means no pick).
   */
  panicThreshold?: number;
  /** Reconnect backoff of the health streams. */
  backoff?: BackoffOptions;
  /** Passive outlier ejection from call results. */
  outlier?: OutlierOptions;
  /** Options of the health clients the picker creates. */
  healthClient?: HealthClientOptions;
  /**
   * Makes the health source of an endpoint (tests; custom transports); the picker closes it when it
   * closes. Default: `createHealthClient`.
   */
  healthSource?: (endpoint: string) => RemoteHealthSource;
  /** Time and timers (tests pass a `FakeClock` from `triple-health/testing`). */
  clock?: Clock;
  /** Jitter's random numbers in [0, 1). Default `Math.random`. */
  random?: () => number;
}

/** How a picked call ended: failures count towards ejection, cancellations by the caller count for nothing. */
export type CallOutcome = "success" | "failure" | "cancelled";

/** One call's hold on an endpoint: call `done()` exactly once when the call ends (later calls are ignored). */
export interface PickedEndpoint {
  /** The endpoint to send the call to, as given in `endpoints` (or by the discovery source). */
  readonly endpoint: string;
  /** True when the endpoint was picked in panic mode (not necessarily healthy). */
  readonly panic: boolean;
  /** Releases the endpoint and reports how the call went (for least-outstanding and ejection). */
  done(outcome: CallOutcome): void;
}

/** One endpoint as the picker sees it now. */
export interface EndpointSnapshot {
  /** As given in `endpoints`. */
  readonly endpoint: string;
  /** Last status the endpoint reported; undefined before its first answer or once its stream was lost past the grace. */
  readonly status: ServingStatus | undefined;
  /** The health stream is up (polling: the last Check answered). */
  readonly connected: boolean;
  /** Connected, or lost for less than the grace. */
  readonly reachable: boolean;
  /** SERVING, reachable and not ejected. */
  readonly healthy: boolean;
  /** Taken out of rotation for now after calls failed in a row (see {@link OutlierOptions}). */
  readonly ejected: boolean;
  /** Calls picked and not yet `done()`. */
  readonly outstanding: number;
  /** Calls that failed in a row, counting towards ejection. */
  readonly consecutiveFailures: number;
}

class Entry {
  readonly endpoint: string;
  readonly source: RemoteHealthSource;
  readonly follower: HealthFollower;
  /** The status the picker goes by: the follower's, held for the grace after a loss. */
  status: ServingStatus | undefined = undefined;
  connected = false;
  /** Answered or failed at least once (for `ready()`). */
  settled = false;
  /** The stream was up once and then lost: a new stream is news of a restart. */
  wasLost = false;
  /** Why the last attempt to follow it failed (for the next `reconnect` event). */
  lastFailure: RpcError | undefined = undefined;
  outstanding = 0;
  readonly outlier: OutlierState = newOutlierState();
  graceTimer: TimerHandle | undefined = undefined;
  ejectTimer: TimerHandle | undefined = undefined;

  constructor(
    endpoint: string,
    source: RemoteHealthSource,
    service: string,
    options: FollowerOptions,
    listen: (entry: Entry) => FollowerListener,
  ) {
    this.endpoint = endpoint;
    this.source = source;
    this.follower = new HealthFollower(source, service, options, listen(this));
  }

  get reachable(): boolean {
    return this.connected || this.graceTimer !== undefined;
  }
  get ejected(): boolean {
    return this.outlier.ejectedUntil !== undefined;
  }
  get healthy(): boolean {
    return this.status === ServingStatus.Serving && this.reachable && !this.ejected;
  }
}

type Report = (entry: Entry, outcome: CallOutcome) => void;

class Lease implements PickedEndpoint {
  readonly #report: Report;
  readonly #entry: Entry;
  readonly panic: boolean;
  #done = false;

  constructor(report: Report, entry: Entry, panic: boolean) {
    this.#report = report;
    this.#entry = entry;
    this.panic = panic;
    entry.outstanding++;
  }
  get endpoint(): string {
    return this.#entry.endpoint;
  }
  done(outcome: CallOutcome): void {
    if (this.#done) return;
    this.#done = true;
    this.#entry.outstanding--;
    this.#report(this.#entry, outcome);
  }
}

/**
 * Health-aware endpoint picking over the upstreams of one service: a fixed list, or a set that changes
 * as an {@link EndpointSource} (discovery) says. An endpoint removed from the set takes no new calls at
 * once; calls already picked on it finish and report as usual. A source that loses its registry keeps
 * its last set, so health alone goes on deciding.
 *
 * One `grpc.health.v1.Health/Watch` stream per endpoint (or a Check every `pollIntervalMs`) tells
 * which endpoints are SERVING; a lost stream is reopened with exponential backoff and jitter, and the
 * endpoint keeps its last status for `lostStreamGraceMs` meanwhile. Calls go round robin (or to the
 * fewest outstanding) over the healthy endpoints; below the panic threshold over every reachable
 * one. Calls that fail in a row eject an endpoint for a time that grows with each ejection. Every
 * change is a {@link PickerEvent}.
 */
export class EndpointPicker {
  /** The health service name watched on every endpoint: the service key (`""`: each server as a whole). */
  readonly service: string;
  readonly policy: PickPolicy;
  #entries: Entry[] = [];
  readonly #byEndpoint = new Map<string, Entry>();
  readonly #clock: Clock;
  readonly #outlier: ResolvedOutlier;
  readonly #graceMs: number;
  readonly #panicThreshold: number;
  readonly #listeners = new Set<PickerListener>();
  readonly #readyWaiters: (() => void)[] = [];
  #routable: Entry[] = [];
  #panic = false;
  #healthyCount = 0;
  #next = 0;
  #closed = false;
  readonly #follow: FollowerOptions;
  readonly #makeSource: (endpoint: string) => RemoteHealthSource;
  #unsubscribe: (() => void) | undefined;

  constructor(options: EndpointPickerOptions) {
    const discovery = options.discovery;
    if ((discovery === undefined) === (options.endpoints === undefined))
      throw new ConfigError("endpoint picker: give either endpoints or discovery");
    const endpoints = cleanEndpoints(discovery?.endpoints ?? options.endpoints ?? []);
    if (discovery === undefined && endpoints.length === 0)
      throw new ConfigError("endpoint picker: no endpoints given");
    this.service = serviceKey(options.service ?? "", options.group ?? "", options.version ?? "");
    this.policy = options.policy ?? "round-robin";
    if (this.policy !== "round-robin" && this.policy !== "least-outstanding") {
      throw new ConfigError(`unknown pick policy ${JSON.stringify(this.policy)}`);
    }
    this.#clock = options.clock ?? systemClock;
    const backoff = resolveBackoff(options.backoff);
    this.#outlier = resolveOutlier(options.outlier);
    this.#graceMs = nonNegative(options.lostStreamGraceMs ?? 1000, "lostStreamGraceMs");
    // One set of follower options for every endpoint: how to watch, poll and reconnect.
    this.#follow = {
      mode: options.healthMode === "poll" ? "poll" : "watch",
      backoff,
      pollIntervalMs: nonNegative(options.pollIntervalMs ?? 1000, "pollIntervalMs"),
      checkTimeoutMs: nonNegative(options.checkTimeoutMs ?? 1000, "checkTimeoutMs"),
      clock: this.#clock,
      random: options.random ?? Math.random,
    };
    this.#panicThreshold = options.panicThreshold ?? 0.5;
    if (!(this.#panicThreshold >= 0 && this.#panicThreshold <= 1))
      throw new ConfigError("panicThreshold must be within 0..1");
    this.#makeSource =
      options.healthSource ?? ((endpoint: string) => createHealthClient(endpoint, options.healthClient));
    if (discovery === undefined) {
      // Sources are made up front so a bad address in a fixed list fails here, not in a background loop.
      this.#entries = endpoints.map(this.#newEntry);
    } else {
      this.#unsubscribe = discovery.subscribe({
        changed: (added, removed) => this.#change(cleanEndpoints(added), cleanEndpoints(removed)),
        outage: (down, reason) => this.#emit({ type: "source", down, reason, time: this.#clock.now() }),
      });
      this.#entries = endpoints.flatMap((endpoint) => this.#tryEntry(endpoint));
    }
    for (const entry of this.#entries) this.#byEndpoint.set(entry.endpoint, entry);
    this.#recompute();
    for (const entry of this.#entries) entry.follower.follow();
  }

  readonly #newEntry = (endpoint: string): Entry => {
    parseTarget(endpoint); // an address no call could go to fails here, whatever makes the health source
    return new Entry(endpoint, this.#makeSource(endpoint), this.service, this.#follow, this.#listen);
  };

  /** An entry for an endpoint a source gave, or none (reported) when its address is unusable. */
  #tryEntry(endpoint: string): Entry[] {
    try {
      return [this.#newEntry(endpoint)];
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.#emit({ type: "invalid", endpoint, reason, time: this.#clock.now() });
      return [];
    }
  }

  /** The source's set changed: followers start for the added, stop for the removed. */
  #change(added: readonly string[], removed: readonly string[]): void {
    if (this.#closed) return;
    const gone = removed.flatMap((endpoint) => {
      const entry = this.#byEndpoint.get(endpoint);
      return entry === undefined ? [] : [entry];
    });
    const fresh = added
      .filter((endpoint) => !this.#byEndpoint.has(endpoint))
      .flatMap((e) => this.#tryEntry(e));
    if (gone.length + fresh.length === 0) return;
    for (const entry of gone) {
      this.#byEndpoint.delete(entry.endpoint);
      entry.follower.close(new RpcError(Code.Canceled, "endpoint removed"));
      this.#clearTimers(entry);
      void entry.source.close?.().catch(() => {});
    }
    const goneSet = new Set(gone);
    this.#entries = [...this.#entries.filter((entry) => !goneSet.has(entry)), ...fresh];
    for (const entry of fresh) this.#byEndpoint.set(entry.endpoint, entry);
    const time = this.#clock.now();
    for (const entry of gone)
      this.#emit({ type: "removed", endpoint: entry.endpoint, outstanding: entry.outstanding, time });
    for (const entry of fresh) this.#emit({ type: "added", endpoint: entry.endpoint, time });
    this.#recompute();
    for (const entry of fresh) entry.follower.follow();
    // A removed endpoint may have been the last one ready() waited for.
    this.#wakeIfSettled();
  }

  /** The endpoints, in the order given (added ones last). */
  get endpoints(): readonly string[] {
    return this.#entries.map((entry) => entry.endpoint);
  }

  /** Endpoints that are SERVING, reachable and not ejected. */
  get healthyCount(): number {
    return this.#healthyCount;
  }

  /** True while fewer than the panic threshold's share of endpoints are healthy. */
  get panic(): boolean {
    return this.#panic;
  }

  /** The endpoints calls go to now. */
  get routable(): readonly string[] {
    return this.#routable.map((entry) => entry.endpoint);
  }

  /** Every endpoint's state. */
  snapshot(): EndpointSnapshot[] {
    return this.#entries.map((entry) => ({
      endpoint: entry.endpoint,
      status: entry.status,
      connected: entry.connected,
      reachable: entry.reachable,
      healthy: entry.healthy,
      ejected: entry.ejected,
      outstanding: entry.outstanding,
      consecutiveFailures: entry.outlier.consecutiveFailures,
    }));
  }

  /** Subscribes to every change; returns the unsubscribe function. */
  on(listener: PickerListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Resolves once every endpoint has answered or failed at least once (or the picker closed). With a
   * discovery source: the endpoints it has at the time; wait for the source's own first read before.
   */
  ready(): Promise<void> {
    if (this.#closed || this.#entries.every((entry) => entry.settled)) return Promise.resolve();
    return new Promise((resolve) => this.#readyWaiters.push(resolve));
  }

  /**
   * An endpoint for one call, or undefined when none is routable. `exclude` skips endpoints (a retry
   * does not go back to the endpoint that just failed). The caller reports the outcome with `done()`.
   */
  pick(exclude?: ReadonlySet<string>): PickedEndpoint | undefined {
    const list = this.#routable;
    const count = list.length;
    if (count === 0) return undefined;
    const start = this.#next++ % count;
    if (this.#next >= Number.MAX_SAFE_INTEGER) this.#next = 0;
    let best: Entry | undefined;
    for (let i = 0; i < count; i++) {
      const entry = list[(start + i) % count]!;
      if (exclude?.has(entry.endpoint) === true) continue;
      if (this.policy === "round-robin") {
        best = entry;
        break;
      }
      if (best === undefined || entry.outstanding < best.outstanding) best = entry;
    }
    return best === undefined ? undefined : new Lease(this.#report, best, this.#panic);
  }

  /** Stops every health stream and timer and closes the health clients. Safe to call more than once. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe?.();
    for (const entry of this.#entries) {
      entry.follower.close(new RpcError(Code.Canceled, "endpoint picker closed"));
      this.#clearTimers(entry);
    }
    for (const wake of this.#readyWaiters.splice(0)) wake();
    await Promise.all(this.#entries.map((entry) => entry.source.close?.().catch(() => {})));
  }

  readonly #report: Report = (entry, outcome) => {
    if (outcome === "success") {
      recordSuccess(entry.outlier);
      return;
    }
    // A removed endpoint's calls still finish; their failures no longer concern anyone.
    if (outcome !== "failure" || this.#closed || this.#byEndpoint.get(entry.endpoint) !== entry) return;
    const now = this.#clock.now();
    const ejectedNow = this.#entries.filter((e) => e.ejected).length;
    const duration = recordFailure(entry.outlier, this.#outlier, now, ejectedNow, this.#entries.length);
    if (duration === undefined) return;
    entry.ejectTimer = this.#clock.setTimeout(() => {
      entry.ejectTimer = undefined;
      this.#restore(entry, "ejection time over");
    }, duration);
    this.#recompute({
      type: "ejected",
      endpoint: entry.endpoint,
      durationMs: duration,
      ejections: entry.outlier.ejections,
      time: now,
    });
  };

  /** What each endpoint's follower reports: a status is an answer, a loss starts the grace. */
  readonly #listen = (entry: Entry): FollowerListener => ({
    onStatus: (status, via) => {
      this.#answered(entry);
      this.#setStatus(entry, status, via);
    },
    onLost: (error) => this.#lost(entry, error),
    onReconnect: (attempt, delayMs) =>
      this.#emit({
        type: "reconnect",
        endpoint: entry.endpoint,
        attempt,
        delayMs,
        error: entry.lastFailure,
        time: this.#clock.now(),
      }),
  });

  #answered(entry: Entry): void {
    this.#settle(entry);
    if (entry.connected) return;
    entry.connected = true;
    if (entry.graceTimer !== undefined) {
      this.#clock.clearTimeout(entry.graceTimer);
      entry.graceTimer = undefined;
    }
    this.#recompute({ type: "connected", endpoint: entry.endpoint, time: this.#clock.now() });
    // Back after losing its stream: most likely restarted, so past call failures say nothing of it now.
    if (entry.wasLost && entry.ejected) this.#restore(entry, "new health stream");
    entry.wasLost = false;
  }

  #lost(entry: Entry, failure: unknown): void {
    this.#settle(entry);
    const error = failure === undefined ? undefined : RpcError.from(failure, Code.Unavailable);
    entry.lastFailure = error;
    if (!entry.connected) return;
    entry.connected = false;
    entry.wasLost = true;
    if (this.#graceMs > 0 && entry.status !== undefined) {
      entry.graceTimer = this.#clock.setTimeout(() => {
        entry.graceTimer = undefined;
        this.#expireGrace(entry);
      }, this.#graceMs);
    }
    this.#recompute({ type: "disconnected", endpoint: entry.endpoint, error, time: this.#clock.now() });
    if (entry.graceTimer === undefined) this.#expireGrace(entry);
  }

  #expireGrace(entry: Entry): void {
    this.#setStatus(entry, undefined, `health stream lost for ${this.#graceMs} ms`);
  }

  #setStatus(entry: Entry, status: ServingStatus | undefined, reason: string): void {
    const previous = entry.status;
    if (previous === status) return;
    entry.status = status;
    const why = status === undefined ? reason : `${reason}: ${servingStatusName(status)}`;
    this.#recompute({
      type: "status",
      endpoint: entry.endpoint,
      previous,
      status,
      reason: why,
      time: this.#clock.now(),
    });
  }

  #restore(entry: Entry, reason: string): void {
    if (entry.ejectTimer !== undefined) {
      this.#clock.clearTimeout(entry.ejectTimer);
      entry.ejectTimer = undefined;
    }
    restore(entry.outlier, this.#clock.now());
    this.#recompute({ type: "restored", endpoint: entry.endpoint, reason, time: this.#clock.now() });
  }

  #settle(entry: Entry): void {
    if (entry.settled) return;
    entry.settled = true;
    this.#wakeIfSettled();
  }

  #wakeIfSettled(): void {
    if (this.#entries.every((e) => e.settled)) for (const wake of this.#readyWaiters.splice(0)) wake();
  }

  /** Recomputes the healthy and routable sets, then emits `cause` and what changed, so listeners see the new state. */
  #recompute(cause?: PickerEvent): void {
    const total = this.#entries.length;
    const healthy = this.#entries.filter((entry) => entry.healthy);
    const panic = this.#panicThreshold > 0 && healthy.length < this.#panicThreshold * total;
    const routable = panic ? this.#entries.filter((entry) => entry.reachable && !entry.ejected) : healthy;
    this.#healthyCount = healthy.length;
    const time = this.#clock.now();
    const panicChanged = panic !== this.#panic;
    const routableChanged = !sameEntries(routable, this.#routable);
    this.#panic = panic;
    this.#routable = routable;
    if (cause !== undefined) this.#emit(cause);
    if (panicChanged) {
      this.#emit({ type: "panic", active: panic, healthy: healthy.length, total, time });
    }
    if (routableChanged) {
      this.#emit({ type: "routable", endpoints: routable.map((entry) => entry.endpoint), panic, time });
    }
  }

  #clearTimers(entry: Entry): void {
    for (const handle of [entry.graceTimer, entry.ejectTimer])
      if (handle !== undefined) this.#clock.clearTimeout(handle);
    entry.graceTimer = undefined;
    entry.ejectTimer = undefined;
  }

  #emit(event: PickerEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        // One faulty listener must not stop routing or the other listeners.
        process.emitWarning(
          `endpoint picker listener threw: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
  }
}

function cleanEndpoints(endpoints: readonly string[]): string[] {
  return [...new Set(endpoints.map((endpoint) => endpoint.trim()).filter((e) => e !== ""))];
}

function sameEntries(a: readonly Entry[], b: readonly Entry[]): boolean {
  return a.length === b.length && a.every((entry, i) => entry === b[i]);
}

function nonNegative(value: number, name: string): number {
  if (!(value >= 0) || !Number.isFinite(value))
    throw new ConfigError(`${name} must be a non-negative number of ms`);
  return value;
}

/**
 * A health-aware picker over `options.endpoints`, or over what `options.discovery` finds; it starts
 * watching at once. Close it when done.
 *
 * ```ts
 * const picker = createEndpointPicker({ endpoints: ["http://10.0.0.1:20000", "http://10.0.0.2:20000"], service: "greet.GreetService" });
 * await picker.ready();
 * // or, following a registry: createEndpointPicker({ discovery, service: "greet.GreetService", group: "g1", version: "1.0.0" })
 * const picked = picker.pick(); // undefined when nothing is routable
 * try { await callTo(picked.endpoint); picked.done("success"); } catch { picked.done("failure"); }
 * ```
 */
export function createEndpointPicker(options: EndpointPickerOptions): EndpointPicker {
  return new EndpointPicker(options);
}
