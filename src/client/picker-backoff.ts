import { ConfigError } from "../wire/config-error.ts";

/** How a lost health stream is reopened: exponential backoff with jitter (gRPC's connection-backoff shape). */
export interface BackoffOptions {
  /** First delay, ms. Default 100: a proxy wants its upstreams back quickly. */
  initialMs?: number;
  /** Largest delay, ms. Default 5000. */
  maxMs?: number;
  /** Growth per failed attempt. Default 1.6 (gRPC's). */
  multiplier?: number;
  /** Share of the delay randomized either way, 0–1. Default 0.2 (gRPC's): spreads reconnects of many proxies. */
  jitter?: number;
}

/** @internal */
export type ResolvedBackoff = Readonly<Required<BackoffOptions>>;

/** @internal */
export function resolveBackoff(options: BackoffOptions = {}): ResolvedBackoff {
  const resolved = {
    initialMs: options.initialMs ?? 100,
    maxMs: options.maxMs ?? 5000,
    multiplier: options.multiplier ?? 1.6,
    jitter: options.jitter ?? 0.2,
  };
  if (!(resolved.initialMs >= 0) || !(resolved.maxMs >= resolved.initialMs)) {
    throw new ConfigError("backoff: want 0 <= initialMs <= maxMs");
  }
  if (!(resolved.multiplier >= 1)) throw new ConfigError("backoff: multiplier must be at least 1");
  if (!(resolved.jitter >= 0 && resolved.jitter <= 1))
    throw new ConfigError("backoff: jitter must be within 0..1");
  return Object.freeze(resolved);
}

/**
 * The delay before reconnect attempt `attempt` (0 for the first retry): `initialMs × multiplier^attempt`,
 * capped at `maxMs`, then moved by up to ±`jitter` of itself. `random` returns a number in [0, 1).
 * @internal
 */
export function backoffDelay(attempt: number, options: ResolvedBackoff, random: () => number): number {
  const base = Math.min(options.maxMs, options.initialMs * options.multiplier ** Math.max(0, attempt));
  const spread = base * options.jitter * (2 * random() - 1);
  return Math.max(0, Math.round(base + spread));
}
