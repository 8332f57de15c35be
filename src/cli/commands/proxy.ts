// `triple-health proxy`: forwards calls to healthy upstreams until SIGINT/SIGTERM.
import { createTripleProxy, type TripleProxy } from "../../host/triple-proxy.ts";
import { type Command, linePrefix, rejectPositionals, runner } from "../command.ts";
import { discoveryFlags } from "../discovery-flags.ts";
import { FlagError, type FlagSpecs } from "../flags.ts";
import { metricsFlag, parseMetricsAddress, startProxyMetrics } from "../metrics-flags.ts";
import { ProxyLog } from "../proxy-log.ts";
import type { RegistryDiscovery } from "../registry-discovery.ts";
import { listenOrFail, serveUntilStopped } from "../stop-signals.ts";

const proxyFlags: FlagSpecs = {
  listen: {
    kind: "string",
    hint: "host:port",
    description: "address to listen on (default 127.0.0.1:20001; port 0 picks one)",
  },
  upstream: {
    kind: "list",
    hint: "url,url,…",
    description: "upstream servers, comma-separated or repeated (or -registry)",
  },
  ...discoveryFlags,
  service: {
    kind: "string",
    hint: "name",
    description:
      'service watched on each upstream and reported by the proxy (default "": each server as a whole)',
  },
  policy: {
    kind: "string",
    choices: ["round-robin", "least-outstanding"],
    description: "how calls are spread (default round-robin)",
  },
  "health-mode": {
    kind: "string",
    choices: ["watch", "poll"],
    description: "one Watch stream per upstream (default), or poll Check",
  },
  "poll-interval": { kind: "duration", description: "Check period with -health-mode poll (default 1s)" },
  "panic-threshold": {
    kind: "string",
    hint: "0..1",
    description: "below this share healthy, route to every reachable upstream (default 0.5; 0 = off)",
  },
  "lost-grace": {
    kind: "duration",
    description: "how long a lost health stream keeps its last status (default 1s)",
  },
  "eject-after": {
    kind: "int",
    hint: "n",
    description: "consecutive failed calls that eject an upstream (default 5; 0 = off)",
  },
  "eject-time": {
    kind: "duration",
    description: "first ejection time, growing with each ejection (default 10s)",
  },
  "retry-on-reset": {
    kind: "bool",
    description:
      "resend a call cut before any answer (an upstream crash) to another upstream; it may have run, so for idempotent methods only (as Dubbo's failover, Envoy's retry_on: reset)",
  },
  grace: { kind: "duration", description: "how long calls in flight may finish on shutdown (default 5s)" },
  "drain-delay": {
    kind: "duration",
    description:
      "on SIGTERM/SIGINT, how long to answer NOT_SERVING before GOAWAY, so a poller of Check (HAProxy, kubelet) sees it before the port closes (default 0)",
  },
  metrics: metricsFlag,
  log: {
    kind: "string",
    choices: ["text", "json"],
    description:
      "upstream health changes, outages with their cause, ejections and routing changes as text lines on stderr (default), or as JSON lines on stdout with serve's field names {time, service, upstream, event, status, previous, reason, source}",
  },
  "startup-timeout": {
    kind: "duration",
    description: "how long routing is not reported while upstreams have not answered yet (default 5s)",
  },
  verbose: {
    kind: "bool",
    aliases: ["v"],
    description: "print every picker event, not only routing changes",
  },
};

/** @internal exported for tests */
export function parseListen(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (match === null || port > 65535)
    throw new FlagError(`invalid value ${JSON.stringify(text)} for -listen: want host:port`);
  return { host: match[1] ?? (match[2] || "127.0.0.1"), port };
}

function parseShare(text: string): number {
  const value = Number(text);
  if (text.trim() === "" || !(value >= 0 && value <= 1)) {
    throw new FlagError(
      `invalid value ${JSON.stringify(text)} for -panic-threshold: want a number within 0..1`,
    );
  }
  return value;
}

/** `triple-health proxy`: serves until SIGINT/SIGTERM, then closes gracefully. @internal */
export const command: Command = {
  name: "proxy",
  host: true,
  usage: `usage: triple-health proxy -listen host:port -upstream url,url,… [-service name] [flags]
       triple-health proxy -listen host:port -registry zookeeper://h:p,… -service name [-group G -version V] [flags]

Forwards every gRPC, gRPC-Web, triple and Connect call (HTTP/2 and HTTP/1.1) to a healthy upstream, bytes,
headers and trailers passed through. With -registry, the upstreams are the providers of the service key
group/service:version found in ZooKeeper (both Dubbo levels), followed as they come and go. Hosts its own grpc.health.v1.Health: SERVING while one upstream is.
Runs until SIGINT or SIGTERM, then closes gracefully (exit 0). Exit codes: 1 invalid arguments,
2 cannot listen.
`,
  flags: proxyFlags,
  async run({ io, values, positionals }) {
    rejectPositionals(positionals);
    const upstreams = ((values["upstream"] as string[] | undefined) ?? [])
      .flatMap((list) => list.split(","))
      .map((u) => u.trim());
    const fromRegistry = values["registry"] !== undefined;
    if (fromRegistry && upstreams.length > 0)
      throw new FlagError("-upstream and -registry exclude each other");
    if (fromRegistry && !values["service"]) throw new FlagError("-service is required with -registry");
    if (!fromRegistry && upstreams.filter((u) => u !== "").length === 0)
      throw new FlagError("-upstream or -registry is required");
    const listen = parseListen((values["listen"] as string | undefined) ?? "127.0.0.1:20001");
    const graceMs = (values["grace"] as number | undefined) ?? 5000;
    const drainDelayMs = (values["drain-delay"] as number | undefined) ?? 0;
    if (drainDelayMs > 3_600_000) throw new FlagError("-drain-delay must be at most 1h");
    const verbose = values["verbose"] === true;
    const ejectTime = values["eject-time"] as number | undefined;
    const metricsText = values["metrics"] as string | undefined;
    const metricsAddress = metricsText === undefined ? undefined : parseMetricsAddress(metricsText);
    let proxy: TripleProxy;
    // Discovery's own events go to the proxy log (below) once it exists; found providers and outages reach
    // it as the picker's events, so each is logged once.
    // No await lies between the discovery's start and the log's: its events (which come from ZooKeeper
    // replies) cannot come before the log is there.
    let log: ProxyLog | undefined;
    const found: RegistryDiscovery | undefined = fromRegistry
      ? (await import("../registry-discovery.ts")).startDiscovery(
          values,
          values["service"] as string,
          (event) => log?.onDiscovery(event),
        )
      : undefined;
    try {
      proxy = createTripleProxy({
        ...(found === undefined ? { upstreams } : { discovery: found.discovery }),
        group: values["group"] as string | undefined,
        version: values["version"] as string | undefined,
        drainDelayMs,
        retryOnReset: values["retry-on-reset"] === true,
        service: (values["service"] as string | undefined) ?? "",
        picker: {
          policy: values["policy"] as "round-robin" | "least-outstanding" | undefined,
          healthMode: values["health-mode"] as "watch" | "poll" | undefined,
          pollIntervalMs: values["poll-interval"] as number | undefined,
          panicThreshold:
            values["panic-threshold"] === undefined
              ? undefined
              : parseShare(values["panic-threshold"] as string),
          lostStreamGraceMs: values["lost-grace"] as number | undefined,
          outlier: {
            consecutiveFailures: values["eject-after"] as number | undefined,
            baseEjectionMs: ejectTime,
            maxEjectionMs: ejectTime === undefined ? undefined : Math.max(ejectTime, 300_000),
          },
        },
      });
    } catch (error) {
      await found?.close();
      if (error instanceof FlagError) throw error;
      // The proxy's own checks of its options (an upstream URL it cannot use): bad arguments too.
      throw new FlagError(error instanceof Error ? error.message : String(error));
    }
    const json = values["log"] === "json";
    const proxyLog = new ProxyLog({
      json,
      verbose,
      service: proxy.service,
      endpoints: proxy.picker.endpoints,
      write: (line) => (json ? io.stdout : io.stderr).write(line),
      routing: () => ({ endpoints: proxy.picker.routable, panic: proxy.picker.panic }),
      now: Date.now,
      ...(found === undefined
        ? {}
        : {
            levels: (endpoint: string) =>
              found.discovery.providers.find((p) => p.endpoint === endpoint)?.levels,
          }),
    });
    log = proxyLog;
    proxy.picker.on((event) => proxyLog.onEvent(event));
    const startup = setTimeout(
      () => proxyLog.startupOver(),
      (values["startup-timeout"] as number | undefined) ?? 5000,
    );
    startup.unref();
    let listening: { host: string; port: number };
    try {
      listening = await listenOrFail(proxy, listen);
    } catch (error) {
      clearTimeout(startup);
      await found?.close();
      throw error;
    }
    const { host, port } = listening;
    const target =
      found === undefined ? proxy.picker.endpoints.join(", ") : `the providers in ${found.registry}`;
    // Banners on stderr, as tap's: stdout holds the log lines of -log json only.
    io.stderr.write(
      `triple-health proxy on http://${host}:${port} (h2c, HTTP/1.1) → ${target}` +
        `${proxy.service === "" ? "" : ` for ${proxy.picker.service}`}\n`,
    );
    const running = await startProxyMetrics(
      proxy,
      metricsAddress,
      (url) => io.stderr.write(`${linePrefix(command)}metrics on ${url}\n`),
      found,
    );
    const lines = { ...io, stdout: json ? io.stderr : io.stdout };
    try {
      return await serveUntilStopped(running, lines, { prefix: linePrefix(command), graceMs });
    } finally {
      clearTimeout(startup);
      await found?.close();
    }
  },
};

/** @internal */
export const run = runner(command);

export { describeEvent } from "../proxy-log.ts";
