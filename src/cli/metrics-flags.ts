// `-metrics HOST:PORT` of serve and proxy: the metrics registry those commands fill, and its own listener.

import { type DiscoveryMetricsSource, instrumentDiscovery } from "../discovery/registry-metrics.ts";
import type { HealthCheckRunner } from "../health/checks.ts";
import { instrumentHealth } from "../health/health-metrics.ts";
import type { HealthRegistry } from "../health/registry.ts";
import { instrumentHost } from "../host/host-metrics.ts";
import { MetricsListener } from "../host/metrics-listener.ts";
import { instrumentProxy } from "../host/proxy-metrics.ts";
import type { TripleProxy } from "../host/triple-proxy.ts";
import { MetricRegistry } from "../metrics/metric-registry.ts";
import { addProcessMetrics } from "../metrics/process-metrics.ts";
import { CommandError, ExitCode } from "./command.ts";
import { FlagError, type FlagSpec } from "./flags.ts";
import type { StoppableHost } from "./stop-signals.ts";
import { packageVersion } from "./version.ts";

/** The `-metrics` flag. @internal */
export const metricsFlag: FlagSpec = {
  kind: "string",
  hint: "HOST:PORT",
  description:
    "serve GET /metrics (Prometheus text, or OpenMetrics when asked) on a plain HTTP listener of its own at HOST:PORT (:PORT is 127.0.0.1; port 0 picks one); with -admin, /metrics is on the admin surface too",
};

/** Reads a `-metrics` value: `HOST:PORT`, `[::1]:PORT` or `:PORT`. @internal */
export function parseMetricsAddress(text: string): { host: string; port: number } {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):(\d{1,5})$/.exec(text);
  const port = Number(match?.[2]);
  if (match === null || port > 65535)
    throw new FlagError(`invalid -metrics ${JSON.stringify(text)}: want HOST:PORT (port 0-65535)`);
  const host = match[1]!;
  return { host: host === "" ? "127.0.0.1" : host.replace(/^\[(.*)\]$/, "$1"), port };
}

/** A command's metrics: the process, health (and checks) registered; more is added by the caller. @internal */
export function commandMetrics(health: HealthRegistry, checks?: HealthCheckRunner): MetricRegistry {
  const metrics = new MetricRegistry();
  addProcessMetrics(metrics, packageVersion());
  instrumentHealth(metrics, health, checks);
  return metrics;
}

/** Starts the `-metrics` listener, or throws exit 2 (as for the main port) when it cannot listen. @internal */
export async function listenMetrics(
  metrics: MetricRegistry,
  address: { host: string; port: number },
): Promise<{ listener: MetricsListener; url: string }> {
  const listener = new MetricsListener(metrics);
  try {
    const bound = await listener.listen(address.port, address.host);
    const host = bound.host.includes(":") ? `[${bound.host}]` : bound.host;
    return { listener, url: `http://${host}:${bound.port}/metrics` };
  } catch (error) {
    await listener.close();
    throw new CommandError(
      ExitCode.ConnectionFailure,
      `cannot listen on ${address.host}:${address.port} (-metrics): ${(error as Error).message}`,
    );
  }
}

/**
 * With `-metrics`, the proxy's metrics (its health, port, picker and calls; with -registry, its session and
 * the providers found) on their own listener, closed after the proxy; the host to run until stopped either
 * way. @internal
 */
export async function startProxyMetrics(
  proxy: TripleProxy,
  address: { host: string; port: number } | undefined,
  announce: (url: string) => void,
  discovery?: DiscoveryMetricsSource,
): Promise<StoppableHost> {
  if (address === undefined) return proxy;
  const metrics = commandMetrics(proxy.health);
  instrumentHost(metrics, proxy);
  instrumentProxy(metrics, proxy);
  if (discovery !== undefined) instrumentDiscovery(metrics, discovery);
  let started: { listener: MetricsListener; url: string };
  try {
    started = await listenMetrics(metrics, address);
  } catch (error) {
    await proxy.close({ graceMs: 0 });
    throw error;
  }
  announce(started.url);
  return {
    health: proxy.health,
    close: async (options) => {
      await proxy.close(options);
      await started.listener.close();
    },
  };
}
