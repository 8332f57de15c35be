import { ServingStatus } from "../codec/health-types.ts";
import { Code } from "../wire/code.ts";
import { ConfigError } from "../wire/config-error.ts";
import { RpcError } from "../wire/rpc-error.ts";

/**
 * One change of a service's *effective* status (after drain, operator override and checks are applied).
 * Watch streams, listeners and routing all consume these same events. While failing checks hold a service
 * NOT_SERVING, a change of why (a check's new error, one of two failing checks passing) is an event too, with
 * `previous` equal to `status`: listeners (logs, the admin surface) get it, Watch streams do not.
 */
export interface HealthChangeEvent {
  /** The service whose status changed; `""` is the whole server. */
  readonly service: string;
  /** Undefined when the service was not registered before. */
  readonly previous: ServingStatus | undefined;
  /** Undefined when the service was cleared (unregistered). */
  readonly status: ServingStatus | undefined;
  /** Why: the caller's reason, a check's name and error, `drain`, `shutdown`… */
  readonly reason: string;
  /**
   * Which layer made the change: the source given to {@link HealthRegistry.markFailing} or
   * {@link HealthRegistry.markPassing} (a check's name), or `set`, `clear`, `override`, `drain`, `resume`,
   * `shutdown` — so a log can tell an operator's drain from a failing check whatever the reason text says.
   */
  readonly source: string;
  /** `now()` at the change, in milliseconds. */
  readonly time: number;
}

/** Called synchronously with each change; one that throws does not keep the others from being told. */
export type HealthChangeListener = (event: HealthChangeEvent) => void;

/** The registry-wide mode: serving as its layers say, drained, or shut down for good. */
export type HealthRegistryMode = "serving" | "draining" | "shutdown";

/**
 * Called after a drain, resume or shutdown, once the status changes it caused were delivered — also when
 * it changed no status (a drain of services all NOT_SERVING already, a shutdown after a drain).
 */
export type HealthModeListener = (mode: HealthRegistryMode, reason: string) => void;

/** The layers behind one service's effective status, for the admin surface and diagnostics. */
export interface ServiceHealthSnapshot {
  /** The service name; `""` is the whole server. */
  readonly service: string;
  /** Effective status: what Check answers. */
  readonly status: ServingStatus;
  /** Reason of the last effective change. */
  readonly reason: string;
  /** Time of the last effective change. */
  readonly since: number;
  /** What `set()` last said; undefined = the default SERVING of a registered service. */
  readonly base: ServingStatus | undefined;
  /** The operator's override, if any (beats checks, loses to drain). */
  readonly override: ServingStatus | undefined;
  /** Checks (by source name) currently failing for this service, with their reasons. */
  readonly failing: ReadonlyArray<{ readonly source: string; readonly reason: string }>;
}

/** Options of a {@link HealthRegistry}: its clock, its watcher limit, who hears of a throwing listener. */
export interface HealthRegistryOptions {
  /** Clock for event times; `Date.now` by default (tests inject a fake). */
  now?: () => number;
  /**
   * Most watchers open at once across all services; one more is refused with RESOURCE_EXHAUSTED.
   * Default {@link defaultMaxWatchers}: each watcher costs a few hundred bytes here, the stream behind
   * it costs far more, so the limit protects the server, not this map.
   */
  maxWatchers?: number;
  /** Called when a listener throws; by default a process warning is emitted. The other listeners still run. */
  onListenerError?: (error: unknown, event: HealthChangeEvent) => void;
  /**
   * The status of `""` (the whole server) at construction. Default SERVING, as grpc-go's health server
   * (and what `createTripleServer` relies on: every hosted service SERVING when it starts); NOT_SERVING
   * for a server you run yourself that should say nothing is ready until you `set("", SERVING)`.
   */
  initialServerStatus?: ServingStatus;
}

/** Default limit on concurrently open watchers (all services together). */
export const defaultMaxWatchers = 10_000;

interface Entry {
  base: ServingStatus | undefined;
  override: ServingStatus | undefined;
  /** Registered by override() and by nothing else since: clearing the override unregisters it. */
  overrideOnly: boolean;
  failing: Map<string, string>;
  effective: ServingStatus;
  reason: string;
  /** `reason` came from failing checks: once none fails, it is stale and the layer holding the service says why. */
  reasonFromChecks: boolean;
  /** The reasons given with the last `set()` and the last override, for when that layer decides alone. */
  baseReason: string;
  overrideReason: string;
  since: number;
}

interface QueuedEvent {
  readonly seq: number;
  readonly event: HealthChangeEvent;
}

/**
 * Health status per service name, plus the overall server status under `""` (registered SERVING at
 * construction, as grpc-go does).
 *
 * Sources of truth, highest first: shutdown/drain (every registered service NOT_SERVING, sticky until
 * {@link resume}), an operator {@link override}, failing checks ({@link markFailing}), the status given to
 * {@link set} — or SERVING for a service registered any other way.
 *
 * Every change of an effective status becomes one {@link HealthChangeEvent}, delivered synchronously and
 * in order to listeners and watchers; a listener that changes the registry from inside its callback has
 * its events queued behind the current one, so every listener sees the same order.
 */
export class HealthRegistry {
  readonly #entries = new Map<string, Entry>();
  readonly #listeners = new Set<HealthChangeListener>();
  readonly #modeListeners = new Set<HealthModeListener>();
  // Per service: each subscribed listener and the event number it subscribed at.
  readonly #watchers = new Map<string, Map<StatusListener, number>>();
  readonly #now: () => number;
  readonly #maxWatchers: number;
  readonly #onListenerError: (error: unknown, event: HealthChangeEvent) => void;
  readonly #queue: QueuedEvent[] = [];
  // Services created by #entry and not yet announced; their first #recompute emits `previous: undefined`.
  readonly #registered = new Set<string>();
  #dispatching = false;
  #seq = 0;
  #watcherCount = 0;
  #draining = false;
  // The reason of the last drain/resume/shutdown: why a drained service is NOT_SERVING.
  #modeReason = "";
  #shutdown = false;

  constructor(options: HealthRegistryOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#maxWatchers = options.maxWatchers ?? defaultMaxWatchers;
    this.#onListenerError = options.onListenerError ?? warnListenerError;
    this.set("", options.initialServerStatus ?? ServingStatus.Serving, "registered");
  }

  /** Sets a service's own status and registers the service. Drain, overrides and failing checks still apply on top. */
  set(service: string, status: ServingStatus, reason = "set"): void {
    checkStoredStatus(status);
    const entry = this.#entry(service, reason);
    entry.overrideOnly = false;
    entry.base = status;
    entry.baseReason = reason;
    this.#recompute(service, entry, reason, "set");
  }

  /** Effective status (drain and overrides applied), or undefined for an unregistered service. */
  get(service: string): ServingStatus | undefined {
    return this.#entries.get(service)?.effective;
  }

  /** True when the service is registered (Check answers it instead of NOT_FOUND). */
  has(service: string): boolean {
    return this.#entries.has(service);
  }

  /**
   * Unregisters a service: Check answers NOT_FOUND again and watchers see SERVICE_UNKNOWN. Its override
   * and check states go too; a check still bound to it registers it again at its next result.
   */
  clear(service: string, reason = "cleared"): void {
    const entry = this.#entries.get(service);
    if (entry === undefined) return;
    this.#entries.delete(service);
    this.#emit({
      service,
      previous: entry.effective,
      status: undefined,
      reason,
      source: "clear",
      time: this.#now(),
    });
  }

  /** Every registered service's effective status. */
  list(): Map<string, ServingStatus> {
    const result = new Map<string, ServingStatus>();
    for (const [service, entry] of this.#entries) result.set(service, entry.effective);
    return result;
  }

  /** Number of registered services (including `""`). */
  get size(): number {
    return this.#entries.size;
  }

  /** Each registered service with its layers, reason and time of its last change. */
  snapshot(): ServiceHealthSnapshot[] {
    return [...this.#entries].map(([service, entry]) => snapshotOf(service, entry));
  }

  /** One service's layers, as {@link snapshot} gives them; undefined when it is not registered. */
  snapshotOf(service: string): ServiceHealthSnapshot | undefined {
    const entry = this.#entries.get(service);
    return entry === undefined ? undefined : snapshotOf(service, entry);
  }

  /**
   * Operator override: `status` beats checks and `set()` (not drain) until cleared with `undefined`.
   * Registers the service when it is unknown; clearing the override of a service that only the override
   * registered (no `set()`, no check since) unregisters it again, so a mistyped name can be taken back.
   */
  override(service: string, status: ServingStatus | undefined, reason = "override"): void {
    if (status !== undefined) checkStoredStatus(status);
    let entry = this.#entries.get(service);
    if (entry === undefined) {
      if (status === undefined) return;
      entry = this.#entry(service, reason);
      entry.overrideOnly = true;
    }
    if (status === undefined && entry.overrideOnly) {
      this.clear(service, reason);
      return;
    }
    entry.override = status;
    entry.overrideReason = reason;
    this.#recompute(service, entry, reason, "override");
  }

  /**
   * Records that `source` (a check, a dependency) fails for `service`: the service is NOT_SERVING
   * while any source fails. Registers the service when it is unknown.
   */
  markFailing(service: string, source: string, reason: string): void {
    const entry = this.#entry(service, reason);
    entry.overrideOnly = false;
    entry.failing.set(source, reason);
    this.#recompute(service, entry, reason, source);
  }

  /** Records that `source` passes for `service` again. Registers the service when it is unknown. */
  markPassing(service: string, source: string, reason = `${source} passed`): void {
    const entry = this.#entry(service, reason);
    entry.overrideOnly = false;
    entry.failing.delete(source);
    this.#recompute(service, entry, reason, source);
  }

  /**
   * Subscribes to every effective change. Returns the function that unsubscribes. A listener that
   * throws is reported through `onListenerError` and the others still run.
   */
  onChange(listener: HealthChangeListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /**
   * Subscribes to drain, resume and shutdown (see {@link HealthModeListener}); returns the function that
   * unsubscribes. What stays open until the server closes (an event stream) ends itself on `shutdown`.
   */
  onModeChange(listener: HealthModeListener): () => void {
    this.#modeListeners.add(listener);
    return () => {
      this.#modeListeners.delete(listener);
    };
  }

  /**
   * Subscribes `listener` to one service's status: it hears the current status at once, from inside this
   * call (SERVICE_UNKNOWN while the service is not registered — it may become so), then each effective
   * change, synchronously, until {@link unsubscribe}. This is what a Watch stream runs on: a listener
   * object, no closure, promise, signal or iterator per watcher, so that 100,000 of them cost little more
   * than their streams. One that throws on a change is reported through `onListenerError`; one that
   * throws on the first call throws out of here, unsubscribed. Subscribing a listener again to the same
   * service does nothing.
   *
   * @throws RpcError RESOURCE_EXHAUSTED when `maxWatchers` are already open.
   */
  subscribe(service: string, listener: StatusListener): void {
    let subscribers = this.#watchers.get(service);
    if (subscribers?.has(listener)) return;
    if (this.#watcherCount >= this.#maxWatchers)
      throw new RpcError(
        Code.ResourceExhausted,
        `too many health watchers (limit ${this.#maxWatchers}); try again later`,
      );
    if (subscribers === undefined) {
      subscribers = new Map();
      this.#watchers.set(service, subscribers);
    }
    // Its event number: events queued before it are already in the status it hears now.
    subscribers.set(listener, this.#seq);
    this.#watcherCount++;
    try {
      listener.onStatus(this.get(service) ?? ServingStatus.ServiceUnknown);
    } catch (error) {
      this.unsubscribe(service, listener);
      throw error;
    }
  }

  /** Ends a {@link subscribe}: the listener hears no more and its watcher slot is free at once. */
  unsubscribe(service: string, listener: StatusListener): void {
    const subscribers = this.#watchers.get(service);
    if (subscribers === undefined || !subscribers.delete(listener)) return;
    if (subscribers.size === 0) this.#watchers.delete(service);
    this.#watcherCount--;
  }

  /**
   * {@link subscribe} as an async iterator: the current status at once, then each change. A consumer
   * slower than the changes gets the latest status, never a queue: what it sees last is always the
   * current status. The iterator returns when `signal` aborts; its slot is freed at once on abort or
   * `return()`.
   *
   * @throws RpcError RESOURCE_EXHAUSTED when `maxWatchers` are already open.
   */
  watch(service: string, signal: AbortSignal): AsyncIterableIterator<ServingStatus> {
    const iterator = new StatusIterator(signal, () => this.unsubscribe(service, iterator));
    if (!signal.aborted) {
      this.subscribe(service, iterator);
      iterator.start();
    }
    return iterator;
  }

  /** The most watchers it lets open at once (`maxWatchers`). */
  get maxWatchers(): number {
    return this.#maxWatchers;
  }

  /** Watchers open now, across all services. */
  get watcherCount(): number {
    return this.#watcherCount;
  }

  /**
   * Drains: every registered service (and any registered later) reads NOT_SERVING until
   * {@link resume}, whatever `set()`, overrides or checks say meanwhile. Like grpc-go's `Shutdown()`
   * but reversible.
   */
  drain(reason = "drain"): void {
    if (this.#draining || this.#shutdown) return;
    this.#draining = true;
    this.#modeReason = reason;
    this.#recomputeAll(reason, "drain");
    this.#modeChanged("draining", reason, "drain");
  }

  /** Ends a drain: every service gets back the status its layers give it now. No-op after shutdown. */
  resume(reason = "resume"): void {
    if (!this.#draining || this.#shutdown) return;
    this.#draining = false;
    this.#recomputeAll(reason, "resume");
    this.#modeChanged("serving", reason, "resume");
  }

  /** True while drained or shut down. */
  get draining(): boolean {
    return this.#draining || this.#shutdown;
  }

  /** True once {@link shutdown} ran. */
  get isShutdown(): boolean {
    return this.#shutdown;
  }

  /** Permanent NOT_SERVING for every service (server close uses it); resume() no longer undoes it. */
  shutdown(reason = "shutdown"): void {
    if (this.#shutdown) return;
    this.#shutdown = true;
    this.#draining = false;
    this.#modeReason = reason;
    this.#recomputeAll(reason, "shutdown");
    this.#modeChanged("shutdown", reason, "shutdown");
  }

  #modeChanged(mode: HealthRegistryMode, reason: string, source: string): void {
    for (const listener of [...this.#modeListeners]) {
      try {
        listener(mode, reason);
      } catch (error) {
        // Told like a change listener's failure: the event is the overall status as it stands.
        const status = this.get("");
        try {
          this.#onListenerError(error, {
            service: "",
            previous: status,
            status,
            reason,
            source,
            time: this.#now(),
          });
        } catch {
          // As in #deliver: a reporter that throws must not stop the others.
        }
      }
    }
  }

  #entry(service: string, reason: string): Entry {
    let entry = this.#entries.get(service);
    if (entry === undefined) {
      // Placeholder effective status; #recompute decides the real one and emits the registration.
      entry = {
        base: undefined,
        override: undefined,
        overrideOnly: false,
        failing: new Map(),
        effective: ServingStatus.Unknown,
        reason,
        reasonFromChecks: false,
        baseReason: reason,
        overrideReason: reason,
        since: this.#now(),
      };
      this.#entries.set(service, entry);
      this.#registered.add(service);
    }
    return entry;
  }

  #effective(entry: Entry): ServingStatus {
    if (this.#draining || this.#shutdown) return ServingStatus.NotServing;
    if (entry.override !== undefined) return entry.override;
    if (entry.failing.size > 0) return ServingStatus.NotServing;
    return entry.base ?? ServingStatus.Serving;
  }

  /** Why failing checks hold `entry` NOT_SERVING now; undefined when something else decides its status. */
  #heldReason(entry: Entry): string | undefined {
    if (this.#draining || this.#shutdown || entry.override !== undefined || entry.failing.size === 0)
      return undefined;
    return [...entry.failing.values()].join("; ");
  }

  /** The reason of the layer that decides `entry` when no check fails. */
  #decidingReason(entry: Entry): string {
    if (this.#draining || this.#shutdown) return this.#modeReason;
    if (entry.override !== undefined) return entry.overrideReason;
    return entry.baseReason;
  }

  #recompute(service: string, entry: Entry, reason: string, source: string): void {
    const status = this.#effective(entry);
    const fresh = this.#registered.delete(service);
    if (!fresh && status === entry.effective) {
      // Same status, maybe a new why: a check's latest error, the checks still failing once one passed, or,
      // once no check fails, the reason of the layer that holds it (set, override, drain) instead of a stale error.
      let why = this.#heldReason(entry);
      if (why !== undefined) entry.reasonFromChecks = true;
      else if (entry.reasonFromChecks && entry.failing.size === 0) {
        entry.reasonFromChecks = false;
        why = this.#decidingReason(entry);
      }
      if (why === undefined || why === entry.reason) return;
      entry.reason = why;
      this.#emit({ service, previous: status, status, reason: why, source, time: this.#now() });
      return;
    }
    const previous = fresh ? undefined : entry.effective;
    const time = this.#now();
    entry.effective = status;
    entry.reason = reason;
    entry.reasonFromChecks = this.#heldReason(entry) !== undefined;
    entry.since = time;
    this.#emit({ service, previous, status, reason, source, time });
  }

  #recomputeAll(reason: string, source: string): void {
    for (const [service, entry] of [...this.#entries]) {
      // A listener may have cleared it while an earlier service's event ran.
      if (this.#entries.get(service) === entry) this.#recompute(service, entry, reason, source);
    }
  }

  #emit(event: HealthChangeEvent): void {
    this.#queue.push({ seq: ++this.#seq, event });
    if (this.#dispatching) return;
    this.#dispatching = true;
    try {
      for (let item = this.#queue.shift(); item !== undefined; item = this.#queue.shift())
        this.#deliver(item);
    } finally {
      this.#dispatching = false;
    }
  }

  #deliver({ seq, event }: QueuedEvent): void {
    // A new reason under the same status is no news to a Watch stream.
    const subscribers = event.previous === event.status ? undefined : this.#watchers.get(event.service);
    if (subscribers !== undefined) {
      const status = event.status ?? ServingStatus.ServiceUnknown;
      for (const [listener, since] of subscribers) {
        // Events queued before it subscribed are already in the status it heard first.
        if (since >= seq) continue;
        try {
          listener.onStatus(status);
        } catch (error) {
          this.#reportListenerError(error, event);
        }
      }
    }
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch (error) {
        this.#reportListenerError(error, event);
      }
    }
  }

  #reportListenerError(error: unknown, event: HealthChangeEvent): void {
    try {
      this.#onListenerError(error, event);
    } catch {
      // An error reporter that throws must not stop the dispatch either.
    }
  }
}

function snapshotOf(service: string, entry: Entry): ServiceHealthSnapshot {
  return {
    service,
    status: entry.effective,
    reason: entry.reason,
    since: entry.since,
    base: entry.base,
    override: entry.override,
    failing: [...entry.failing].map(([source, reason]) => ({ source, reason })),
  };
}

function checkStoredStatus(status: ServingStatus): void {
  if (
    status !== ServingStatus.Serving &&
    status !== ServingStatus.NotServing &&
    status !== ServingStatus.Unknown
  )
    throw new ConfigError(`a service's status is SERVING, NOT_SERVING or UNKNOWN, not ${String(status)}`);
}

function warnListenerError(error: unknown, event: HealthChangeEvent): void {
  const text = error instanceof Error ? error.message : String(error);
  process.emitWarning(
    `health listener threw on a change of '${event.service}': ${text}`,
    "HealthRegistryWarning",
  );
}

/**
 * Hears one service's status: see {@link HealthRegistry.subscribe}. An object with a method rather than a
 * function, so that a Watch stream is its own listener: no closure per watcher.
 */
export interface StatusListener {
  onStatus(status: ServingStatus): void;
}

type Waiter = (result: IteratorResult<ServingStatus, undefined>) => void;

/**
 * {@link HealthRegistry.watch}'s iterator over one subscription: holds only the latest undelivered status
 * (latest-value coalescing), so a consumer that does not read costs a constant amount of memory however
 * often the status flips.
 */
class StatusIterator implements AsyncIterableIterator<ServingStatus>, StatusListener {
  #latest: ServingStatus | undefined = undefined;
  #delivered: ServingStatus | undefined = undefined;
  readonly #signal: AbortSignal;
  readonly #unsubscribe: () => void;
  readonly #waiters: Waiter[] = [];
  #done: boolean;

  constructor(signal: AbortSignal, unsubscribe: () => void) {
    this.#signal = signal;
    this.#unsubscribe = unsubscribe;
    this.#done = signal.aborted;
  }

  /** Subscribed: ends with the signal from now on. */
  start(): void {
    this.#signal.addEventListener("abort", this.#finish, { once: true });
  }

  onStatus(status: ServingStatus): void {
    this.#latest = status;
    if (status === this.#delivered) return;
    const waiter = this.#waiters.shift();
    if (waiter === undefined) return;
    this.#delivered = status;
    waiter({ value: status, done: false });
  }

  next(): Promise<IteratorResult<ServingStatus, undefined>> {
    if (this.#done) return Promise.resolve({ value: undefined, done: true });
    const latest = this.#latest;
    if (latest !== undefined && latest !== this.#delivered && this.#waiters.length === 0) {
      this.#delivered = latest;
      return Promise.resolve({ value: latest, done: false });
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  return(): Promise<IteratorResult<ServingStatus, undefined>> {
    this.#finish();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  readonly #finish = (): void => {
    if (this.#done) return;
    this.#done = true;
    this.#signal.removeEventListener("abort", this.#finish);
    this.#unsubscribe();
    for (const waiter of this.#waiters.splice(0)) waiter({ value: undefined, done: true });
  };
}
