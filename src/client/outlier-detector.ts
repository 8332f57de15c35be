import { ConfigError } from "../wire/config-error.ts";

/** Passive outlier ejection, after Envoy's `consecutive_gateway_failure`: calls that fail in a row eject an endpoint. */
export interface OutlierOptions {
  /** Failures in a row that eject an endpoint; 0 turns ejection off. Default 5 (Envoy's). */
  consecutiveFailures?: number;
  /** First ejection time, ms; the n-th ejection lasts n times this. Default 10,000. */
  baseEjectionMs?: number;
  /** Longest ejection, ms. Default 300,000 (Envoy's). */
  maxEjectionMs?: number;
  /**
   * Largest share of endpoints ejected at once, 0–1; at least one endpoint may always be ejected.
   * Default 0.5: ejection must never take most of the fleet away (that is the panic rule's job to judge).
   */
  maxEjectedShare?: number;
}

/** @internal */
export type ResolvedOutlier = Readonly<Required<OutlierOptions>>;

/** @internal */
export function resolveOutlier(options: OutlierOptions = {}): ResolvedOutlier {
  const resolved = {
    consecutiveFailures: options.consecutiveFailures ?? 5,
    baseEjectionMs: options.baseEjectionMs ?? 10_000,
    maxEjectionMs: options.maxEjectionMs ?? 300_000,
    maxEjectedShare: options.maxEjectedShare ?? 0.5,
  };
  if (!Number.isInteger(resolved.consecutiveFailures) || resolved.consecutiveFailures < 0) {
    throw new ConfigError("outlier: consecutiveFailures must be a whole number");
  }
  if (!(resolved.baseEjectionMs > 0) || !(resolved.maxEjectionMs >= resolved.baseEjectionMs)) {
    throw new ConfigError("outlier: want 0 < baseEjectionMs <= maxEjectionMs");
  }
  if (!(resolved.maxEjectedShare >= 0 && resolved.maxEjectedShare <= 1)) {
    throw new ConfigError("outlier: maxEjectedShare must be within 0..1");
  }
  return Object.freeze(resolved);
}

/** Per-endpoint failure bookkeeping. @internal */
export interface OutlierState {
  consecutiveFailures: number;
  /** Ejections so far in the current run of trouble; the next one lasts one base longer. */
  ejections: number;
  /** `now()` when the current ejection ends; undefined while not ejected. */
  ejectedUntil: number | undefined;
  /** When the last ejection ended: a quiet `maxEjectionMs` after it forgets past ejections. */
  restoredAt: number | undefined;
}

/** @internal */
export function newOutlierState(): OutlierState {
  return { consecutiveFailures: 0, ejections: 0, ejectedUntil: undefined, restoredAt: undefined };
}

/**
 * Records one call's failure; returns the ejection time in ms when this failure ejects the endpoint,
 * else undefined. `ejectedNow` is how many endpoints are ejected, `total` how many there are.
 * @internal
 */
export function recordFailure(
  state: OutlierState,
  options: ResolvedOutlier,
  now: number,
  ejectedNow: number,
  total: number,
): number | undefined {
  state.consecutiveFailures++;
  if (options.consecutiveFailures === 0 || state.ejectedUntil !== undefined) return undefined;
  if (state.consecutiveFailures < options.consecutiveFailures) return undefined;
  const allowed = Math.max(1, Math.floor(total * options.maxEjectedShare));
  if (ejectedNow >= allowed) return undefined;
  if (state.restoredAt !== undefined && now - state.restoredAt >= options.maxEjectionMs) state.ejections = 0;
  state.ejections++;
  const duration = Math.min(options.maxEjectionMs, options.baseEjectionMs * state.ejections);
  state.ejectedUntil = now + duration;
  state.consecutiveFailures = 0;
  return duration;
}

/** A call succeeded: the run of failures is over. @internal */
export function recordSuccess(state: OutlierState): void {
  state.consecutiveFailures = 0;
}

/** The ejection ended (its time ran out, or the endpoint came back on a fresh connection). @internal */
export function restore(state: OutlierState, now: number): void {
  state.ejectedUntil = undefined;
  state.restoredAt = now;
  state.consecutiveFailures = 0;
}
