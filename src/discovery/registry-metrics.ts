// A registry in /metrics: the ZooKeeper session's state and its reconnects and expiries (serve -registry
// and proxy -registry), what serve registered, and which providers proxy -registry found at which level.
// Every label takes values from a fixed list: no registry path or address becomes a label value.
import type { CollectedFamily, MetricRegistry } from "../metrics/metric-registry.ts";
import type { DiscoveredProvider, DiscoveryEvent } from "./provider-discovery.ts";
import type { RegistrationEvent, RegistrationSnapshot } from "./registration.ts";
import type { RegistryClient } from "./registry-client.ts";

/** Every state a registry session can be in: the `state` label's values. */
export const sessionStates: readonly RegistryClient["state"][] = Object.freeze([
  "connecting",
  "connected",
  "disconnected",
  "expired",
  "closed",
]);

/** The `level` label of discovered providers: the two Dubbo levels apart, and a provider listed at both. */
export const providerLevels = Object.freeze(["interface", "instance", "both"] as const);

function sessionFamily(state: RegistryClient["state"] | undefined): CollectedFamily {
  return {
    name: "triple_health_registry_session",
    help: "State of the registry session: 1 for the current one.",
    type: "gauge",
    labelNames: ["state"],
    samples: sessionStates.map((s) => ({ labels: [s], value: s === state ? 1 : 0 })),
  };
}

/**
 * The session counters: `triple_health_registry_reconnects_total` (connected again after the first
 * connection, in the same session or a new one) and `triple_health_registry_session_expirations_total`.
 * Made at once, so both read 0 before anything happened.
 */
function sessionCounters(metrics: MetricRegistry) {
  const reconnects = metrics
    .counter(
      "triple_health_registry_reconnects_total",
      "Times the registry session connected again after its first connection (same session or a new one).",
    )
    .labels();
  const expirations = metrics
    .counter(
      "triple_health_registry_session_expirations_total",
      "Times the registry session expired (its ephemeral nodes gone with it).",
    )
    .labels();
  let connectedOnce = false;
  return {
    onState(state: RegistryClient["state"]): void {
      if (state === "connected") {
        if (connectedOnce) reconnects.inc();
        connectedOnce = true;
      } else if (state === "expired") expirations.inc();
    },
  };
}

/**
 * serve -registry's registration in `metrics`: `triple_health_registry_session{state}`,
 * `triple_health_registry_registered` (1 while this provider has a node), `triple_health_registry_nodes`,
 * the session counters, and `triple_health_registry_errors_total` (failed registry writes). Feed it the
 * registrar's events with `onEvent`; `snapshot` is read at each scrape (undefined until the registration
 * started: nothing registered, no session yet). Returns the collector's removal with it.
 * @internal
 */
export function instrumentRegistration(
  metrics: MetricRegistry,
  snapshot: () => RegistrationSnapshot | undefined,
): { onEvent(event: RegistrationEvent): void; remove(): void } {
  const session = sessionCounters(metrics);
  const errors = metrics
    .counter("triple_health_registry_errors_total", "Registry writes or session problems reported.")
    .labels();
  const remove = metrics.addCollector(() => {
    const now = snapshot();
    const nodes = now?.nodes.length ?? 0;
    return [
      sessionFamily(now?.session ?? "connecting"),
      {
        name: "triple_health_registry_registered",
        help: "1 while this provider has a node in the registry (it is SERVING and the registry confirmed it).",
        type: "gauge",
        labelNames: [],
        samples: [{ labels: [], value: nodes > 0 ? 1 : 0 }],
      },
      {
        name: "triple_health_registry_nodes",
        help: "Registry nodes this provider has now (interface nodes and its instance node).",
        type: "gauge",
        labelNames: [],
        samples: [{ labels: [], value: nodes }],
      },
    ];
  });
  return {
    onEvent(event) {
      if (event.kind === "session-connected" || event.kind === "session-reestablished")
        session.onState("connected");
      else if (event.kind === "session-expired") session.onState("expired");
      else if (event.kind === "error") errors.inc();
    },
    remove,
  };
}

/** What {@link instrumentDiscovery} reads: the session and the providers found. @internal */
export interface DiscoveryMetricsSource {
  readonly client: Pick<RegistryClient, "state" | "onState">;
  readonly discovery: { readonly providers: readonly DiscoveredProvider[] };
  /** Adds a listener of the discovery's events; returns its removal. */
  onEvent(listener: (event: DiscoveryEvent) => void): () => void;
}

/**
 * proxy -registry's discovery in `metrics`: `triple_health_registry_session{state}`, the session
 * counters, `triple_health_discovery_providers{level}` (providers found now, by the levels that list them:
 * `interface`, `instance` or `both`; they add up to the providers), and
 * `triple_health_discovery_changes_total{change}` (`added`, `removed`),
 * `triple_health_discovery_skipped_total{level}` and `triple_health_discovery_read_errors_total`.
 * Returns the removal of all of it.
 * @internal
 */
export function instrumentDiscovery(metrics: MetricRegistry, source: DiscoveryMetricsSource): () => void {
  const session = sessionCounters(metrics);
  // A session may exist already: the first connection is no reconnect.
  if (source.client.state === "connected") session.onState("connected");
  const stopState = source.client.onState((state) => session.onState(state));
  const changes = metrics.counter(
    "triple_health_discovery_changes_total",
    "Providers found (added) or gone (removed) in the registry.",
    ["change"],
  );
  const added = changes.labels("added");
  const removed = changes.labels("removed");
  // Providers found before the metrics were made (the proxy starts discovering before it listens).
  added.inc(source.discovery.providers.length);
  const skipped = metrics.counter(
    "triple_health_discovery_skipped_total",
    "Registry entries skipped as unusable, by level.",
    ["level"],
  );
  const skippedBy = { interface: skipped.labels("interface"), instance: skipped.labels("instance") };
  const readErrors = metrics
    .counter("triple_health_discovery_read_errors_total", "Registry reads that failed (each is retried).")
    .labels();
  const stopEvents = source.onEvent((event) => {
    if (event.type === "added") added.inc();
    else if (event.type === "removed") removed.inc();
    else if (event.type === "skipped") skippedBy[event.level].inc();
    else if (event.type === "error") readErrors.inc();
  });
  const stopCollector = metrics.addCollector(() => {
    const counts = { interface: 0, instance: 0, both: 0 };
    for (const provider of source.discovery.providers)
      counts[provider.levels.length > 1 ? "both" : provider.levels[0]!]++;
    return [
      sessionFamily(source.client.state),
      {
        name: "triple_health_discovery_providers",
        help: "Providers found in the registry now, by the levels that list them (they add up to the providers).",
        type: "gauge",
        labelNames: ["level"],
        samples: providerLevels.map((level) => ({ labels: [level], value: counts[level] })),
      },
    ];
  });
  return () => {
    stopState();
    stopEvents();
    stopCollector();
  };
}
