// `triple-health serve`: a health server (Health plus named services, or a sidecar whose -check flags drive
// health services) until SIGINT/SIGTERM.
import { readFileSync } from "node:fs";
import { createSecureContext } from "node:tls";
import { loadProtoFiles } from "../../codec/proto-files.ts";
import { registerAddress } from "../../discovery/register-address.ts";
import type { RegisterMode } from "../../discovery/registration.ts";
import { instrumentRegistration } from "../../discovery/registry-metrics.ts";
import { parseRegistryUrl } from "../../discovery/registry-url.ts";
import { createAdminHandler } from "../../health/admin-handler.ts";
import { HealthCheckRunner } from "../../health/checks.ts";
import { instrumentCheck } from "../../health/health-metrics.ts";
import { createProbeHandler } from "../../health/probe-handler.ts";
import { HealthRegistry } from "../../health/registry.ts";
import { serviceKey } from "../../health/service-key.ts";
import { instrumentHost } from "../../host/host-metrics.ts";
import type { MetricsListener } from "../../host/metrics-listener.ts";
import { createTripleServer } from "../../host/triple-server.ts";
import { defineService } from "../../server/define-service.ts";
import type { TlsOptions } from "../../server/port-listener.ts";
import type { PlainHttpHandler } from "../../server/service-types.ts";
import { adminToken, adminTokenFlag } from "../admin-flags.ts";
import { jsonChangeLine, jsonRegistrationLine, textChangeLine, textRegistrationLine } from "../change-log.ts";
import { type CheckFlag, checkProbe, parseCheckConfig, parseCheckFlags } from "../check-flags.ts";
import { type Command, linePrefix, rejectPositionals, runner } from "../command.ts";
import { FlagError, type FlagSpecs, formatDuration, parseFlags } from "../flags.ts";
import { commandMetrics, listenMetrics, metricsFlag, parseMetricsAddress } from "../metrics-flags.ts";
import { listenOrFail, serveUntilStopped } from "../stop-signals.ts";
import { packageVersion } from "../version.ts";

interface ServeFlags {
  sample: boolean;
  services: string[];
  serviceGroup: string | undefined;
  serviceVersion: string | undefined;
  host: string;
  port: number;
  admin: boolean;
  /** The bearer token the admin surface requires (-admin-token, else $TRIPLE_HEALTH_ADMIN_TOKEN). */
  adminToken?: string;
  /** Key material read from -tls-cert, -tls-key and -tls-ca. */
  tls?: TlsOptions;
  graceMs: number;
  /** The -check flags, parsed: each drives its NAME and `""`. */
  checks: CheckFlag[];
  /** The timing every check runs with (defaults filled in); only with -check. */
  checkTiming?: CheckTiming;
  /** How status changes are logged on stdout. */
  log: "text" | "json";
  /** -registry and its companions; undefined without -registry. */
  registry?: RegistryFlags;
  /** Wait between unregister + NOT_SERVING and GOAWAY on shutdown, ms. */
  drainDelayMs: number;
  /** The -metrics listener's address. */
  metrics?: { host: string; port: number };
}

interface RegistryFlags {
  url: string;
  application: string | undefined;
  mode: RegisterMode;
  host: string | undefined;
}

// dubbo-go's consumer-update-wait-time: how long a provider leaving a registry waits for consumers.
const registryDrainDelayMs = 3000;

/** Kubernetes probe settings, shared by every -check. */
interface CheckTiming {
  intervalMs: number;
  timeoutMs: number;
  failureThreshold: number;
  successThreshold: number;
}

// Kubernetes' probe defaults (periodSeconds 10, timeoutSeconds 1, failureThreshold 3, successThreshold 1),
// which are HealthCheckRunner's too.
const defaultTiming: CheckTiming = {
  intervalMs: 10_000,
  timeoutMs: 1000,
  failureThreshold: 3,
  successThreshold: 1,
};

const flags: FlagSpecs = {
  sample: {
    kind: "bool",
    description: 'also serve greet.GreetService (Greet returns {greeting: "hello " + name})',
  },
  service: {
    kind: "list",
    description: "register a named service as SERVING (repeatable; no methods)",
    hint: "NAME",
  },
  "service-group": {
    kind: "string",
    description:
      "Dubbo group of the -sample and -service exports: calls pick them by tri-service-group, health has them under G/NAME too",
    hint: "G",
  },
  "service-version": {
    kind: "string",
    description:
      "Dubbo version of the -sample and -service exports: calls pick them by tri-service-version, health has them under NAME:V too (0.0.0 counts as none)",
    hint: "V",
  },
  host: { kind: "string", description: "address to bind (default 127.0.0.1)", hint: "HOST" },
  port: { kind: "int", description: "port (default $PORT, else 20000; 0 picks a free one)", hint: "N" },
  admin: {
    kind: "bool",
    description: "mount the admin surface (/admin/*, loopback only) and /livez, /readyz",
  },
  "admin-token": adminTokenFlag,
  "tls-cert": {
    kind: "string",
    hint: "FILE",
    description: "serve TLS (ALPN h2, http/1.1) with this certificate chain (PEM); needs -tls-key",
  },
  "tls-key": { kind: "string", hint: "FILE", description: "private key (PEM) of -tls-cert" },
  "tls-ca": {
    kind: "string",
    hint: "FILE",
    description: "(with -tls-cert) require client certificates signed by these CAs (PEM): mutual TLS",
  },
  check: {
    kind: "list",
    hint: "NAME=URL",
    description:
      'drive health service NAME, and "" with it, by a check (repeatable): tcp://host:port (connects), http(s)://host:port/path (2xx passes), grpc://host:port/service (another server\'s health, by Watch; no /service: its ""), exec:command (exit 0 passes; a line with shell syntax runs as /bin/sh -c LINE). NAME starts NOT_SERVING until the check passes',
  },
  config: {
    kind: "string",
    hint: "FILE",
    description:
      'checks from a JSON file, each as a -check: {"checks": [{"name": "db", "url": "tcp://db:5432", "interval": "5s", "timeout": "1s", "failures": 3, "successes": 1, "initial-delay": "10s"}]} (all but name and url optional)',
  },
  "check-interval": { kind: "duration", description: "time between a check's attempts (default 10s)" },
  "check-timeout": {
    kind: "duration",
    description:
      "limit of one attempt; one that takes longer fails, an exec: command's process group is killed (default 1s)",
  },
  "failure-threshold": {
    kind: "int",
    hint: "N",
    description: 'failed attempts in a row that turn NAME and "" NOT_SERVING (default 3)',
  },
  "success-threshold": {
    kind: "int",
    hint: "N",
    description: "passed attempts in a row that turn NAME back to SERVING (default 1)",
  },
  log: {
    kind: "string",
    hint: "text|json",
    choices: ["text", "json"],
    description:
      "status changes on stdout as text lines (default), or as one JSON object per line: {time, service, status, previous, reason, source}; with json, the other lines go to stderr",
  },
  metrics: metricsFlag,
  grace: { kind: "duration", description: "how long calls in flight may finish on shutdown (default 5s)" },
  "grace-ms": { kind: "int", hint: "N", description: "deprecated: -grace in milliseconds" },
  registry: {
    kind: "string",
    hint: "URL",
    description:
      "register in ZooKeeper while SERVING, as Dubbo providers do: zookeeper://h1:p1,h2:p2 or zookeeper://h1:p1?backup=h2:p2 (user:password@ for digest ACLs; session=MS, timeout=MS, group=ROOT)",
  },
  application: {
    kind: "string",
    hint: "NAME",
    description: "Dubbo application name (needed by -register-mode all and instance)",
  },
  "register-mode": {
    kind: "string",
    hint: "all|interface|instance",
    choices: ["all", "interface", "instance"],
    description:
      "Dubbo levels registered: all (default: both), interface (one node per export) or instance (application level)",
  },
  "registry-host": {
    kind: "string",
    hint: "HOST[:PORT]",
    description:
      "address registered (default $DUBBO_IP_TO_REGISTRY/$DUBBO_PORT_TO_REGISTRY, else the bound one; bound to 0.0.0.0: the first non-internal address)",
  },
  "drain-delay": {
    kind: "duration",
    description:
      "on SIGTERM/SIGINT, how long to stay up unregistered and NOT_SERVING before GOAWAY, so consumers and pollers notice (default 3s with -registry, else 0)",
  },
};

function checkPort(port: number, what: string): number {
  if (port > 65535) throw new FlagError(`${what} must be a port number (0-65535), got ${port}`);
  return port;
}

/** @internal exported for tests */
export function parseServeArgs(args: string[], env: NodeJS.ProcessEnv): ServeFlags {
  const { values, positionals } = parseFlags(args, flags);
  return serveFlags(values, positionals, env);
}

function serveFlags(
  values: ReturnType<typeof parseFlags>["values"],
  positionals: readonly string[],
  env: NodeJS.ProcessEnv,
): ServeFlags {
  rejectPositionals(positionals);
  let envPort = 20000;
  if (env.PORT !== undefined && env.PORT !== "") {
    if (!/^\d+$/.test(env.PORT))
      throw new FlagError(`PORT must be a port number, got ${JSON.stringify(env.PORT)}`);
    envPort = checkPort(Number(env.PORT), "PORT");
  }
  const admin = values["admin"] === true;
  if (!admin && values["admin-token"] !== undefined) throw new FlagError("-admin-token needs -admin");
  const token = admin ? adminToken(values, "admin-token", env) : undefined;
  const tls = tlsFlags(values);
  const checks = parseCheckFlags([
    ...((values["check"] as string[] | undefined) ?? []),
    ...configChecks(values["config"] as string | undefined),
  ]);
  const checkTiming = checkTimingFlags(values, checks.length > 0);
  const registry = registryFlags(values);
  const metricsText = values["metrics"] as string | undefined;
  return {
    sample: values["sample"] === true,
    services: (values["service"] as string[] | undefined) ?? [],
    serviceGroup: values["service-group"] as string | undefined,
    serviceVersion: values["service-version"] as string | undefined,
    host: (values["host"] as string | undefined) ?? "127.0.0.1",
    port: checkPort((values["port"] as number | undefined) ?? envPort, "-port"),
    admin,
    ...(token === undefined ? {} : { adminToken: token }),
    ...(tls === undefined ? {} : { tls }),
    graceMs: (values["grace"] as number | undefined) ?? (values["grace-ms"] as number | undefined) ?? 5000,
    checks,
    ...(checkTiming === undefined ? {} : { checkTiming }),
    log: (values["log"] as "text" | "json" | undefined) ?? "text",
    ...(registry === undefined ? {} : { registry }),
    drainDelayMs: drainDelay(values, registry !== undefined),
    ...(metricsText === undefined ? {} : { metrics: parseMetricsAddress(metricsText) }),
  };
}

function drainDelay(values: ReturnType<typeof parseFlags>["values"], haveRegistry: boolean): number {
  const given = values["drain-delay"] as number | undefined;
  if (given !== undefined && given > 3_600_000) throw new FlagError("-drain-delay must be at most 1h");
  return given ?? (haveRegistry ? registryDrainDelayMs : 0);
}

function registryFlags(values: ReturnType<typeof parseFlags>["values"]): RegistryFlags | undefined {
  const url = values["registry"] as string | undefined;
  if (url === undefined) {
    const given = ["application", "register-mode", "registry-host"].find(
      (flag) => values[flag] !== undefined,
    );
    if (given !== undefined) throw new FlagError(`-${given} needs -registry`);
    return undefined;
  }
  try {
    parseRegistryUrl(url);
  } catch (error) {
    throw new FlagError(`invalid -registry: ${(error as Error).message}`);
  }
  const mode = (values["register-mode"] as RegisterMode | undefined) ?? "all";
  const application = values["application"] as string | undefined;
  if ((application === undefined || application === "") && mode !== "interface")
    throw new FlagError(`-registry with -register-mode ${mode} needs -application`);
  if (application !== undefined && !/^[A-Za-z0-9_.-]+$/.test(application))
    throw new FlagError(`invalid -application ${JSON.stringify(application)}: use letters, digits, _ . -`);
  const host = values["registry-host"] as string | undefined;
  if (host !== undefined) {
    try {
      registerAddress({ host: "127.0.0.1", port: 1 }, host, {});
    } catch (error) {
      throw new FlagError(`invalid -registry-host: ${(error as Error).message}`);
    }
  }
  return { url, application, mode, host };
}

const maxTimerMs = 24 * 3_600_000;

// The -config file's checks, as -check texts with their settings (so one parser checks both, and a NAME in
// both is "given twice").
function configChecks(file: string | undefined): string[] {
  if (file === undefined) return [];
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new FlagError(`cannot read -config ${JSON.stringify(file)}: ${(error as Error).message}`);
  }
  return parseCheckConfig(text, file).map((check) => {
    const s = check.settings ?? {};
    const parts = [
      s.intervalMs === undefined ? "" : `,interval=${s.intervalMs}ms`,
      s.timeoutMs === undefined ? "" : `,timeout=${s.timeoutMs}ms`,
      s.failureThreshold === undefined ? "" : `,failures=${s.failureThreshold}`,
      s.successThreshold === undefined ? "" : `,successes=${s.successThreshold}`,
      s.initialDelayMs === undefined ? "" : `,initial-delay=${s.initialDelayMs}ms`,
    ];
    return `${check.name}=${check.url}${parts.join("")}`;
  });
}

const timingFlags = ["check-interval", "check-timeout", "failure-threshold", "success-threshold"] as const;

function checkTimingFlags(
  values: ReturnType<typeof parseFlags>["values"],
  haveChecks: boolean,
): CheckTiming | undefined {
  const given = timingFlags.find((flag) => values[flag] !== undefined);
  if (!haveChecks) {
    if (given !== undefined) throw new FlagError(`-${given} needs -check`);
    return undefined;
  }
  const atLeast = (flag: (typeof timingFlags)[number], min: number, fallback: number, unit: string) => {
    const value = (values[flag] as number | undefined) ?? fallback;
    if (value < min) throw new FlagError(`-${flag} must be at least ${min}${unit}`);
    return value;
  };
  // Node turns a timer over 2^31-1 ms (24.8 days) into 1 ms, which would probe in a busy loop; a day is
  // plenty for a probe.
  const duration = (flag: "check-interval" | "check-timeout", fallback: number) => {
    const value = atLeast(flag, 1, fallback, "ms");
    if (value > maxTimerMs) throw new FlagError(`-${flag} must be at most 24h`);
    return value;
  };
  return {
    intervalMs: duration("check-interval", defaultTiming.intervalMs),
    timeoutMs: duration("check-timeout", defaultTiming.timeoutMs),
    failureThreshold: atLeast("failure-threshold", 1, defaultTiming.failureThreshold, ""),
    successThreshold: atLeast("success-threshold", 1, defaultTiming.successThreshold, ""),
  };
}

// The files are read here, before listening: a missing or unreadable one is a usage error (exit 1).
function tlsFlags(values: ReturnType<typeof parseFlags>["values"]): TlsOptions | undefined {
  const cert = values["tls-cert"] as string | undefined;
  const key = values["tls-key"] as string | undefined;
  const ca = values["tls-ca"] as string | undefined;
  if (cert === undefined && key === undefined) {
    if (ca !== undefined) throw new FlagError("-tls-ca needs -tls-cert and -tls-key");
    return undefined;
  }
  if (cert === undefined) throw new FlagError("-tls-key needs -tls-cert");
  if (key === undefined) throw new FlagError("-tls-cert needs -tls-key");
  const read = (flag: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new FlagError(`cannot read -${flag} ${JSON.stringify(file)}: ${(error as Error).message}`);
    }
  };
  const tls: TlsOptions = { cert: read("tls-cert", cert), key: read("tls-key", key) };
  if (ca !== undefined) {
    tls.ca = read("tls-ca", ca);
    tls.requestCert = true;
    tls.rejectUnauthorized = true;
  }
  try {
    // Files that are no PEM, or a key that does not match its certificate: a usage error, not "cannot listen".
    createSecureContext(tls);
  } catch (error) {
    throw new FlagError(`invalid -tls-cert/-tls-key/-tls-ca: ${(error as Error).message}`);
  }
  return tls;
}

function timingText(timing: CheckTiming & { initialDelayMs: number }): string {
  const { intervalMs, timeoutMs, failureThreshold, successThreshold, initialDelayMs } = timing;
  const first = initialDelayMs > 0 ? `, first after ${formatDuration(initialDelayMs)}` : "";
  return `every ${formatDuration(intervalMs)} (timeout ${formatDuration(timeoutMs)}, NOT_SERVING after ${failureThreshold} failed, SERVING after ${successThreshold} passed${first})`;
}

/** `triple-health serve`: runs until SIGINT/SIGTERM, then closes gracefully. @internal */
export const command: Command = {
  name: "serve",
  host: true,
  usage: `usage: triple-health serve [flags]

Serves grpc.health.v1.Health (gRPC, gRPC-Web, triple and Connect; h2c and HTTP/1.1, or TLS with ALPN h2 and
http/1.1 given -tls-cert and -tls-key) until SIGINT/SIGTERM, then closes gracefully (every status NOT_SERVING,
GOAWAY, in-flight calls finish). With -admin, the admin surface answers loopback clients only, and requires
the bearer token of -admin-token or $TRIPLE_HEALTH_ADMIN_TOKEN when one is set.
As a sidecar, each -check NAME=URL probes a dependency with Kubernetes probe semantics and drives the health
service NAME and the overall "": both turn NOT_SERVING after -failure-threshold failed attempts in a row (so
within about -check-interval x -failure-threshold), NAME back to SERVING after -success-threshold passed ones
(and "" once no check fails). -log json logs every status change as one JSON line on stdout.
Exit codes: 0 after a graceful close, 1 bad arguments, 2 cannot listen.
`,
  flags,
  async run({ io, values, positionals }) {
    const options = serveFlags(values, positionals, io.env);
    const health = new HealthRegistry();
    const prefix = linePrefix(command);
    if (values["grace-ms"] !== undefined)
      io.stderr.write(`${prefix}warning: -grace-ms is deprecated: use -grace ${values["grace-ms"]}ms\n`);
    const json = options.log === "json";
    // JSON from the first registration on, so a log pipeline sees each service appear; stdout then holds
    // nothing else, and the banner and shutdown lines go to stderr.
    if (json) health.onChange((event) => io.stdout.write(jsonChangeLine(event)));
    const lines = json ? io.stderr : io.stdout;
    const runner = new HealthCheckRunner(health);
    const metrics =
      options.admin || options.metrics !== undefined ? commandMetrics(health, runner) : undefined;
    // Filled in once listening: the status page's identity line shows them.
    const addresses: string[] = [];
    const plainHttpHandlers: PlainHttpHandler[] = options.admin
      ? [
          createAdminHandler(health, {
            token: options.adminToken,
            checks: runner,
            registration: () => server.registration,
            metrics,
            version: packageVersion(),
            addresses: () => addresses,
          }),
          createProbeHandler(health),
        ]
      : [];
    const registry = options.registry;
    const registryMetrics =
      metrics !== undefined && registry !== undefined
        ? instrumentRegistration(metrics, () => server.registration)
        : undefined;
    const server = createTripleServer({
      health,
      plainHttpHandlers,
      tls: options.tls,
      drainDelayMs: options.drainDelayMs,
      ...(metrics === undefined ? {} : { metrics, healthService: { metrics } }),
      ...(registry === undefined
        ? {}
        : {
            registry: registry.url,
            registerMode: registry.mode,
            ...(registry.application === undefined ? {} : { application: registry.application }),
            ...(registry.host === undefined ? {} : { registryHost: registry.host }),
            onRegistration: (event) => {
              registryMetrics?.onEvent(event);
              (json ? io.stdout : lines).write(
                json ? jsonRegistrationLine(event) : textRegistrationLine(prefix, event),
              );
            },
          }),
    });
    if (metrics !== undefined) instrumentHost(metrics, server);
    const exported = { group: options.serviceGroup, version: options.serviceVersion };
    try {
      if (options.sample) {
        const root = loadProtoFiles("greet.proto");
        server.addService(
          "greet.GreetService",
          defineService(root, "greet.GreetService", {
            Greet: (request: { name: string }) => ({ greeting: `hello ${request.name}` }),
          }),
          exported,
        );
      }
      for (const name of options.services) server.addService(name, {}, exported);
    } catch (error) {
      throw new FlagError((error as Error).message);
    }
    // The checks go in before the port opens: each starts failing, so NAME and "" are NOT_SERVING from the first
    // request a peer can send (added after listen(), a Check in between was answered SERVING). What they print
    // waits for the banner: each check's line and, in text, every change until then.
    let beforeBanner = "";
    const stopBuffering = json
      ? undefined
      : health.onChange((event) => {
          beforeBanner += textChangeLine(prefix, event);
        });
    for (const check of options.checks) {
      // The check's own settings over the global flags (or their defaults).
      const timing = { ...(options.checkTiming ?? defaultTiming), initialDelayMs: 0, ...check.settings };
      beforeBanner += `${prefix}check ${JSON.stringify(check.name)}: ${check.url} ${timingText(timing)}\n`;
      // NAME and "" both: the registry holds "" NOT_SERVING while any check's source fails for it.
      // As a Kubernetes readiness probe (every check starts failing): nothing is SERVING before it was seen so.
      const probe = checkProbe(check);
      runner.add({
        ...(metrics === undefined ? probe : instrumentCheck(metrics, probe)),
        // Shown on the admin surface: a password in the URL stays out of it.
        target: check.url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*):[^/@]*@/i, "$1:***@"),
        services: [check.name, ""],
        ...timing,
      });
    }
    let bound: { host: string; port: number };
    try {
      bound = await listenOrFail(server, options);
    } catch (error) {
      await runner.close();
      throw error;
    }
    const where =
      options.tls === undefined
        ? `http://${bound.host}:${bound.port} (h2c, HTTP/1.1)`
        : `https://${bound.host}:${bound.port} (TLS: h2, HTTP/1.1)`;
    const boundHost = bound.host.includes(":") ? `[${bound.host}]` : bound.host;
    addresses.push(`${options.tls === undefined ? "http" : "https"}://${boundHost}:${bound.port}`);
    const token = options.adminToken === undefined ? "" : " (admin token required)";
    const keys = server.handler.exports.map((e) => serviceKey(e.service, e.group, e.version));
    lines.write(`triple-health serving ${keys.join(", ")} on ${where}${token}\n`);
    let metricsListener: MetricsListener | undefined;
    if (options.metrics !== undefined && metrics !== undefined) {
      try {
        const started = await listenMetrics(metrics, options.metrics);
        metricsListener = started.listener;
        addresses.push(started.url);
        lines.write(`${prefix}metrics on ${started.url}\n`);
      } catch (error) {
        await runner.close();
        await server.close({ graceMs: 0 });
        throw error;
      }
    }
    lines.write(beforeBanner);
    // Text: changes from here on; the banner above already says what is registered.
    stopBuffering?.();
    if (!json) health.onChange((event) => io.stdout.write(textChangeLine(prefix, event)));
    if (registry !== undefined) lines.write(`${prefix}registering in ${registry.url} (${registry.mode})\n`);
    const host = {
      health,
      // Dubbo's order: the nodes go before anything turns NOT_SERVING; close() then waits the drain delay.
      unregister: () => server.unregister(),
      close: async (closeOptions?: { graceMs?: number }) => {
        await runner.close();
        await server.close(closeOptions);
        await metricsListener?.close();
      },
    };
    return serveUntilStopped(host, { ...io, stdout: lines }, { prefix, graceMs: options.graceMs });
  },
};

/** @internal */
export const run = runner(command);
