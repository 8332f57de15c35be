import { type ServingStatus, servingStatusName } from "../codec/health-types.ts";
import type { HealthChangeEvent, HealthRegistry, ServiceHealthSnapshot } from "./registry.ts";

/** Which layer decides a service's status now: the highest that has a say (see {@link HealthRegistry}). */
export type StatusSource = "shutdown" | "drain" | "override" | "check" | "set" | "clear";

/** One entry of the admin surface's list of recent changes. */
export interface AdminChange {
  /** ISO time of the change. */
  readonly time: string;
  readonly timeMs: number;
  readonly service: string;
  /** Status names; `null` when the service was not registered before (`from`) or was cleared (`to`). */
  readonly from: string | null;
  readonly to: string | null;
  readonly reason: string;
  /** The layer holding the status after the change. */
  readonly source: StatusSource;
  /** Who made the change: a check's name, `app`, the operator…: the `source` of `-log json` lines. */
  readonly by: string;
}

/** How many changes the admin surface remembers: enough to see what just happened, constant memory. */
export const recentChangeCount = 50;

/** The layer behind a service's status (drain and shutdown beat everything, as in the registry). */
export function sourceOf(registry: HealthRegistry, snapshot: ServiceHealthSnapshot): StatusSource {
  if (registry.isShutdown) return "shutdown";
  if (registry.draining) return "drain";
  if (snapshot.override !== undefined) return "override";
  return snapshot.failing.length > 0 ? "check" : "set";
}

/**
 * The last {@link recentChangeCount} effective changes of a registry, oldest first: a ring, so a flapping
 * check costs the same memory as a quiet one. It sees the changes made after it was created.
 */
export class RecentChanges {
  readonly #registry: HealthRegistry;
  readonly #ring: AdminChange[] = [];
  readonly #size: number;
  #next = 0;

  constructor(registry: HealthRegistry, size = recentChangeCount) {
    this.#registry = registry;
    this.#size = size;
    registry.onChange((event) => this.#record(event));
  }

  /** Oldest first. */
  list(): AdminChange[] {
    return [...this.#ring.slice(this.#next), ...this.#ring.slice(0, this.#next)];
  }

  #record(event: HealthChangeEvent): void {
    const snapshot = event.status === undefined ? undefined : this.#registry.snapshotOf(event.service);
    const change: AdminChange = {
      time: new Date(event.time).toISOString(),
      timeMs: event.time,
      service: event.service,
      from: nameOf(event.previous),
      to: nameOf(event.status),
      reason: event.reason,
      source: snapshot === undefined ? "clear" : sourceOf(this.#registry, snapshot),
      by: event.source,
    };
    if (this.#ring.length < this.#size) this.#ring.push(change);
    else {
      this.#ring[this.#next] = change;
      this.#next = (this.#next + 1) % this.#size;
    }
  }
}

function nameOf(status: ServingStatus | undefined): string | null {
  return status === undefined ? null : servingStatusName(status);
}
