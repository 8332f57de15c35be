// A host's port in /metrics: its connections and streams, and what its limits refused.
import type { MetricRegistry } from "../metrics/metric-registry.ts";
import type { HostBase } from "./host-base.ts";

/**
 * Reports `host`'s port at each scrape: `triple_health_connections` and `triple_health_server_streams`
 * (open now), `triple_health_buffered_bytes` (held for peers, as the byte budgets count it),
 * `triple_health_connections_refused_total` (at the connection cap), `triple_health_streams_refused_total`
 * (HTTP/2 streams refused on a connection over its byte budget) and
 * `triple_health_calls_ended_over_budget_total`. Returns the collector's removal.
 */
export function instrumentHost(metrics: MetricRegistry, host: HostBase): () => void {
  return metrics.addCollector(() => {
    const counters = host.portCounters;
    const one = (value: number) => [{ labels: [], value }];
    return [
      {
        name: "triple_health_connections",
        help: "Connections open now (TCP or TLS, any protocol).",
        type: "gauge",
        labelNames: [],
        samples: one(host.connections),
      },
      {
        name: "triple_health_server_streams",
        help: "RPC server streams open now (Watch streams among them).",
        type: "gauge",
        labelNames: [],
        samples: one(counters.serverStreams),
      },
      {
        name: "triple_health_buffered_bytes",
        help: "Bytes held on behalf of peers now (buffered requests, queued responses).",
        type: "gauge",
        labelNames: [],
        samples: one(host.bufferedBytes),
      },
      {
        name: "triple_health_connections_refused",
        help: "Connections refused at the connection cap.",
        type: "counter",
        labelNames: [],
        samples: one(counters.connectionsRefused),
      },
      {
        name: "triple_health_streams_refused",
        help: "HTTP/2 streams refused on a connection over its byte budget.",
        type: "counter",
        labelNames: [],
        samples: one(counters.streamsRefused),
      },
      {
        name: "triple_health_calls_ended_over_budget",
        help: "Calls ended with RESOURCE_EXHAUSTED for going over a byte budget.",
        type: "counter",
        labelNames: [],
        samples: one(counters.callsEndedOverBudget),
      },
    ];
  });
}
