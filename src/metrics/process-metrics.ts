import type { MetricRegistry } from "./metric-registry.ts";

/**
 * Adds `process_start_time_seconds` (the Unix time the process started, as Prometheus' client libraries
 * name it) and `triple_health_build_info{version,node}` (1), so a dashboard can tell restarts and versions.
 */
export function addProcessMetrics(metrics: MetricRegistry, version: string): void {
  metrics
    .gauge("process_start_time_seconds", "Start time of the process since the Unix epoch, in seconds.")
    .labels()
    .set(Math.round((Date.now() - process.uptime() * 1000) / 10) / 100);
  metrics.info("triple_health_build_info", "The triple-health version and the Node.js version running it.", {
    version,
    node: process.version,
  });
}
