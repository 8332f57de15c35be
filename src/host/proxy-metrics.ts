// A proxy's part of /metrics: what its picker knows of each upstream, and what its calls did.
import { ServingStatus, servingStatusName } from "../codec/health-types.ts";
import type { CollectedFamily, MetricRegistry } from "../metrics/metric-registry.ts";
import type { TripleProxy } from "./triple-proxy.ts";

const statusValues = [ServingStatus.Serving, ServingStatus.NotServing, ServingStatus.Unknown] as const;

/**
 * Reports `proxy` at each scrape, every series by `upstream` (the configured upstream URLs, a bounded set):
 * `triple_health_proxy_upstream_status{upstream,status}` (1 for the status it reports; UNKNOWN before it
 * answered), `triple_health_proxy_upstream_healthy` and `_ejected` (0/1), `triple_health_proxy_panic` (0/1),
 * `triple_health_proxy_picks_total{upstream}` (attempts sent, retries included), and
 * `triple_health_proxy_calls_total`, `_retries_total{reason}` (`unprocessed`, `reset`), `_unavailable_total`,
 * `_broken_total`; and, counted
 * from the picker's events, `triple_health_proxy_ejections_total{upstream}`,
 * `triple_health_proxy_panics_total` (times panic began) and `triple_health_proxy_upstream_disconnects_total{upstream}`.
 * Returns the removal of both.
 */
export function instrumentProxy(metrics: MetricRegistry, proxy: TripleProxy): () => void {
  const ejections = metrics.counter(
    "triple_health_proxy_ejections_total",
    "Times an upstream was ejected for failing calls in a row.",
    ["upstream"],
  );
  const disconnects = metrics.counter(
    "triple_health_proxy_upstream_disconnects_total",
    "Times an upstream's health stream (or, polling, a Check) failed.",
    ["upstream"],
  );
  const panics = metrics.counter("triple_health_proxy_panics_total", "Times panic mode began.").labels();
  const stopEvents = proxy.picker.on((event) => {
    if (event.type === "ejected") ejections.labels(event.endpoint).inc();
    else if (event.type === "disconnected") disconnects.labels(event.endpoint).inc();
    else if (event.type === "panic" && event.active) panics.inc();
  });
  const stopCollector = metrics.addCollector(() => {
    const endpoints = proxy.picker.snapshot();
    const stats = proxy.stats;
    const perUpstream = (name: string, help: string, value: (s: (typeof endpoints)[number]) => number) => ({
      name,
      help,
      type: "gauge" as const,
      labelNames: ["upstream"],
      samples: endpoints.map((s) => ({ labels: [s.endpoint], value: value(s) })),
    });
    const one = (value: number) => [{ labels: [], value }];
    const families: CollectedFamily[] = [
      {
        name: "triple_health_proxy_upstream_status",
        help: "Status each upstream reports for the proxied service: 1 for the current one (UNKNOWN before it answered).",
        type: "gauge",
        labelNames: ["upstream", "status"],
        samples: endpoints.flatMap((s) =>
          statusValues.map((value) => ({
            labels: [s.endpoint, servingStatusName(value)],
            value: (s.status ?? ServingStatus.Unknown) === value ? 1 : 0,
          })),
        ),
      },
      perUpstream(
        "triple_health_proxy_upstream_healthy",
        "1 while the upstream takes calls (serving, reachable, not ejected).",
        (s) => (s.healthy ? 1 : 0),
      ),
      perUpstream("triple_health_proxy_upstream_ejected", "1 while the upstream is ejected.", (s) =>
        s.ejected ? 1 : 0,
      ),
      perUpstream(
        "triple_health_proxy_upstream_outstanding",
        "Calls in flight on the upstream.",
        (s) => s.outstanding,
      ),
      {
        name: "triple_health_proxy_panic",
        help: "1 while too few upstreams are healthy and calls go to every reachable one.",
        type: "gauge",
        labelNames: [],
        samples: one(proxy.picker.panic ? 1 : 0),
      },
      {
        name: "triple_health_proxy_picks",
        help: "Attempts sent to each upstream (retries included).",
        type: "counter",
        labelNames: ["upstream"],
        samples: [...stats.attempts].map(([upstream, value]) => ({ labels: [upstream], value })),
      },
      {
        name: "triple_health_proxy_calls",
        help: "Calls received for forwarding.",
        type: "counter",
        labelNames: [],
        samples: one(stats.calls),
      },
      {
        name: "triple_health_proxy_retries",
        help: 'Attempts retried on another upstream, by reason: "unprocessed" (the attempt never reached its server), "reset" (it failed before any response byte; retryOnReset).',
        type: "counter",
        labelNames: ["reason"],
        samples: [
          { labels: ["unprocessed"], value: stats.retried },
          { labels: ["reset"], value: stats.retriedOnReset },
        ],
      },
      {
        name: "triple_health_proxy_unavailable",
        help: "Calls the proxy answered UNAVAILABLE itself (no routable upstream, or every attempt failed).",
        type: "counter",
        labelNames: [],
        samples: one(stats.unavailable),
      },
      {
        name: "triple_health_proxy_broken",
        help: "Calls whose upstream failed after answering.",
        type: "counter",
        labelNames: [],
        samples: one(stats.broken),
      },
    ];
    return families;
  });
  return () => {
    stopEvents();
    stopCollector();
  };
}
