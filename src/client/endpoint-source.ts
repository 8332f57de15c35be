/**
 * What an {@link EndpointSource} tells its subscribers, synchronously and in order.
 */
export interface EndpointSourceListener {
  /**
   * The set changed: `added` were not in it, `removed` were (each endpoint at most once, never in both).
   */
  changed(added: readonly string[], removed: readonly string[]): void;
  /**
   * The source lost its registry (`down` true) or has it again. Meanwhile the set it last gave stands:
   * a registry outage says nothing about the endpoints, so they keep being routed by their health.
   */
  outage?(down: boolean, reason: string): void;
}

/**
 * A changing set of endpoints (upstream addresses such as `tri://10.0.0.1:20000`) a picker follows
 * instead of a fixed list: a registry's view of one service's providers (discovery), or anything a test
 * drives by hand. The client layer knows only this shape, not where the endpoints come from.
 */
export interface EndpointSource {
  /** The endpoints known now. */
  readonly endpoints: readonly string[];
  /** Calls `listener` on every change from now on; returns the unsubscribe function. */
  subscribe(listener: EndpointSourceListener): () => void;
}

/**
 * An {@link EndpointSource} set by hand: `set()` a whole list, `add()`/`remove()` one, `outage()` to
 * report the registry lost or back. For tests and for programs that learn their upstreams their own way.
 */
export class ManualEndpointSource implements EndpointSource {
  readonly #endpoints = new Set<string>();
  readonly #listeners = new Set<EndpointSourceListener>();

  constructor(endpoints: readonly string[] = []) {
    for (const endpoint of clean(endpoints)) this.#endpoints.add(endpoint);
  }

  get endpoints(): readonly string[] {
    return [...this.#endpoints];
  }

  subscribe(listener: EndpointSourceListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Makes the set exactly `endpoints`, telling subscribers what was added and removed. */
  set(endpoints: readonly string[]): void {
    const next = new Set(clean(endpoints));
    const added = [...next].filter((endpoint) => !this.#endpoints.has(endpoint));
    const removed = [...this.#endpoints].filter((endpoint) => !next.has(endpoint));
    for (const endpoint of removed) this.#endpoints.delete(endpoint);
    for (const endpoint of added) this.#endpoints.add(endpoint);
    if (added.length + removed.length === 0) return;
    for (const listener of [...this.#listeners]) listener.changed(added, removed);
  }

  add(...endpoints: string[]): void {
    this.set([...this.#endpoints, ...endpoints]);
  }

  remove(...endpoints: string[]): void {
    const gone = new Set(clean(endpoints));
    this.set([...this.#endpoints].filter((endpoint) => !gone.has(endpoint)));
  }

  /** Reports the registry lost (`down`) or back; the set is unchanged. */
  outage(down: boolean, reason: string): void {
    for (const listener of [...this.#listeners]) listener.outage?.(down, reason);
  }
}

function clean(endpoints: readonly string[]): string[] {
  return endpoints.map((endpoint) => endpoint.trim()).filter((endpoint) => endpoint !== "");
}
