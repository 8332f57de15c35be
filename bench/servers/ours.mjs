// This project's server: createTripleServer on one port for h2c and HTTP/1.1, the bench service SERVING.
// Loads dist/ (after `npm run build`), or src/ with --from=src when the parent runs under a TypeScript
// loader (the smoke test does, so that it needs no build).

import { benchService } from "../lib/health-bytes.mjs";
import { childFlag, runServerChild } from "../lib/server-child.mjs";

const from = childFlag("from", "dist");
const maxStreams = Number(childFlag("max-streams", "1000"));
const maxWatchers = Number(childFlag("max-watchers", "100000"));
// The Watch shares: per client address (default half of maxWatchers; every bench client comes from 127.0.0.1,
// so the watch bench passes Infinity) and per connection (default 100, below maxStreams). Unset: the defaults.
const healthService = {};
const perAddress = childFlag("max-watchers-per-address", undefined);
const perConnectionWatchers = childFlag("max-watchers-per-connection", undefined);
if (perAddress !== undefined) healthService.maxWatchersPerAddress = Number(perAddress);
if (perConnectionWatchers !== undefined)
  healthService.maxWatchersPerConnection = Number(perConnectionWatchers);
// The byte budgets: the server's defaults unless given (0 turns one off).
const connections = {};
const perConnection = childFlag("max-connection-buffered", undefined);
const perProcess = childFlag("max-process-buffered", undefined);
if (perConnection !== undefined) connections.maxConnectionBufferedBytes = Number(perConnection);
if (perProcess !== undefined) connections.maxProcessBufferedBytes = Number(perProcess);
const ext = from === "src" ? "ts" : "js";
const base = new URL(`../../${from}/`, import.meta.url);
const { createTripleServer } = await import(new URL(`host/triple-server.${ext}`, base).href);
const { HealthRegistry } = await import(new URL(`health/registry.${ext}`, base).href);
const { ServingStatus, parseServingStatus } = await import(new URL(`codec/health-types.${ext}`, base).href);

const health = new HealthRegistry({ maxWatchers });
// --metrics=on: calls counted per route, protocol and code, with a latency histogram (the serve -metrics cost).
let metrics;
if (childFlag("metrics", "off") === "on") {
  const { MetricRegistry } = await import(new URL(`metrics/metric-registry.${ext}`, base).href);
  metrics = new MetricRegistry();
}
const server = createTripleServer({
  health,
  http2: { maxConcurrentStreams: maxStreams },
  connections,
  healthService,
  metrics,
});
server.health.set(benchService, ServingStatus.Serving);
const { port } = await server.listen(0, "127.0.0.1");
runServerChild({
  name: "ours",
  ports: { h2: port, h1: port },
  setStatus: (status) => server.health.set(benchService, parseServingStatus(status)),
  close: () => server.close({ graceMs: 0 }),
});
