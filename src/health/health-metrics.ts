// Health's part of /metrics: each service's status, its changes, the checks and the Watch streams.
import { ServingStatus, servingStatusName } from "../codec/health-types.ts";
import type { CollectedFamily, MetricRegistry } from "../metrics/metric-registry.ts";
import type { CheckProbe, HealthCheckRunner } from "./checks.ts";
import type { HealthRegistry } from "./registry.ts";

// The values a registered service's status takes; each gets its own series (1 for the current one, 0 for the
// others), as kube-state-metrics exposes conditions, so `== 1` selects and `sum by (status)` counts.
const statusValues = [ServingStatus.Serving, ServingStatus.NotServing, ServingStatus.Unknown] as const;

/**
 * Most series the status-change counter keeps per family; past it, services that come and go (set through
 * the admin surface and cleared) count under `service="other"`, so churn cannot grow the exposition.
 */
export const maxChangeSeries = 500;

/**
 * Registers the registry's metrics on `metrics`: `triple_health_service_status{service,status}` (1 for the
 * current status), `triple_health_draining`, `triple_health_status_changes_total{service,source,status}`,
 * `triple_health_watch_streams` (open now). Service names are the registry's own (registered ones only,
 * and `""` for the whole server); `source` is the layer (`set`, `drain`, `override`, a check's name…).
 * With `checks`: `triple_health_check_passing{check}` and `triple_health_check_consecutive_failures{check}`
 * (see also {@link instrumentCheck}). Returns a function that stops it.
 */
export function instrumentHealth(
  metrics: MetricRegistry,
  registry: HealthRegistry,
  checks?: HealthCheckRunner,
): () => void {
  const changes = metrics.counter(
    "triple_health_status_changes_total",
    "Changes of a service's effective status, by service, the layer that made it (source) and the new status.",
    ["service", "source", "status"],
  );
  const stopChanges = registry.onChange((event) => {
    const status = event.status === undefined ? "CLEARED" : servingStatusName(event.status);
    const key = `${event.service}\u0000${event.source}\u0000${status}`;
    const service =
      changes.series.has(key) || changes.series.size < maxChangeSeries ? event.service : "other";
    // Resolved per change, not per call: changes are rare, and the series is kept by the family.
    changes.labels(service, event.source, status).inc();
  });
  const stopCollector = metrics.addCollector(() => {
    const status: CollectedFamily = {
      name: "triple_health_service_status",
      help: 'Effective status of each registered service ("" is the whole server): 1 for the current status, 0 for the others.',
      type: "gauge",
      labelNames: ["service", "status"],
      samples: registry.snapshot().flatMap((s) =>
        statusValues.map((value) => ({
          labels: [s.service, servingStatusName(value)],
          value: s.status === value ? 1 : 0,
        })),
      ),
    };
    const families: CollectedFamily[] = [
      status,
      {
        name: "triple_health_draining",
        help: "1 while the registry is drained or shut down (every status forced NOT_SERVING), else 0.",
        type: "gauge",
        labelNames: [],
        samples: [{ labels: [], value: registry.draining ? 1 : 0 }],
      },
      {
        name: "triple_health_watch_streams",
        help: "Health Watch streams open now.",
        type: "gauge",
        labelNames: [],
        samples: [{ labels: [], value: registry.watcherCount }],
      },
    ];
    if (checks !== undefined) {
      const states = checks.states();
      families.push(
        {
          name: "triple_health_check_passing",
          help: "1 while the check counts as passing (thresholds applied), else 0.",
          type: "gauge",
          labelNames: ["check"],
          samples: states.map((s) => ({ labels: [s.name], value: s.passing ? 1 : 0 })),
        },
        {
          name: "triple_health_check_consecutive_failures",
          help: "Failed attempts of the check in a row, up to now.",
          type: "gauge",
          labelNames: ["check"],
          samples: states.map((s) => ({ labels: [s.name], value: s.consecutiveFailures })),
        },
      );
    }
    return families;
  });
  return () => {
    stopChanges();
    stopCollector();
  };
}

/**
 * `probe` with its attempts counted: `triple_health_check_attempts_total{check}`,
 * `triple_health_check_failures_total{check}` (threw, rejected, returned false, or timed out) and
 * `triple_health_check_duration_seconds{check}` (a timed-out attempt counts at its timeout). An attempt the
 * runner skips because the previous one still hangs is no attempt here. An attempt aborted because the check
 * was stopped is counted as an attempt only.
 */
export function instrumentCheck<P extends CheckProbe>(metrics: MetricRegistry, probe: P): P {
  const attempts = metrics
    .counter("triple_health_check_attempts_total", "Attempts of each check.", ["check"])
    .labels(probe.name);
  const failures = metrics
    .counter(
      "triple_health_check_failures_total",
      "Failed attempts of each check (an error, false, or the timeout).",
      ["check"],
    )
    .labels(probe.name);
  const duration = metrics
    .histogram("triple_health_check_duration_seconds", "Duration of each check's attempts.", ["check"])
    .labels(probe.name);
  const run = probe.run;
  return {
    ...probe,
    run(signal: AbortSignal): unknown {
      attempts.inc();
      const started = performance.now();
      let done = false;
      const finish = (ok: boolean): void => {
        if (done) return;
        done = true;
        signal.removeEventListener("abort", onAbort);
        duration.observe((performance.now() - started) / 1000);
        if (!ok) failures.inc();
      };
      const onAbort = (): void => {
        // The timeout fails the attempt; a stop (runner closed, check removed) is no verdict.
        if ((signal.reason as { name?: unknown } | undefined)?.name === "TimeoutError") finish(false);
        else done = true;
      };
      signal.addEventListener("abort", onAbort, { once: true });
      let result: unknown;
      try {
        result = run(signal);
      } catch (error) {
        finish(false);
        throw error;
      }
      return Promise.resolve(result).then(
        (value) => {
          finish(value !== false);
          return value;
        },
        (error: unknown) => {
          finish(false);
          throw error;
        },
      );
    },
  };
}
