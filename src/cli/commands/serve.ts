// `triple-health serve`: a health server (Health plus named services, or a sidecar whose -check flags drive
// health services) until SIGINT/SIGTERM.
import { readFileSync } from "node:fs";
import { createSecureContext } from "node:tls";
import { loadProtoFiles } from "../../codec/proto-files.ts";
import { createAdminHandler } from "../../health/admin-handler.ts";
import { HealthCheckRunner } from "../../health/checks.ts";
import { createProbeHandler } from "../../health/probe-handler.ts";
import { HealthRegistry } from "../../health/registry.ts";
import { serviceKey } from "../../health/service-key.ts";
import { createTripleServer } from "../../host/triple-server.ts";
import { defineService } from "../../server/define-service.ts";
import type { TlsOptions } from "../../server/port-listener.ts";
import type { PlainHttpHandler } from "../../server/service-types.ts";
import { adminToken, adminTokenFlag } from "../admin-flags.ts";
import { jsonChangeLine, textChangeLine } from "../change-log.ts";
import { type CheckFlag, checkProbe, parseCheckFlags } from "../check-flags.ts";
import { type Command, linePrefix, rejectPositionals, runner } from "../command.ts";
import { FlagError, type FlagSpecs, formatDuration, parseFlags } from "../flags.ts";
import { listenOrFail, serveUntilStopped } from "../stop-signals.ts";

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
}

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
  grace: { kind: "duration", description: "how long calls in flight may finish on shutdown (default 5s)" },
  "grace-ms": { kind: "int", hint: "N", description: "deprecated: -grace in milliseconds" },
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
  const checks = parseCheckFlags((values["check"] as string[] | undefined) ?? []);
  const checkTiming = checkTimingFlags(values, checks.length > 0);
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
  };
}

const maxTimerMs = 24 * 3_600_000;

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

function timingText(timing: CheckTiming): string {
  const { intervalMs, timeoutMs, failureThreshold, successThreshold } = timing;
  return `every ${formatDuration(intervalMs)} (timeout ${formatDuration(timeoutMs)}, NOT_SERVING after ${failureThreshold} failed, SERVING after ${successThreshold} passed)`;
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
    const plainHttpHandlers: PlainHttpHandler[] = options.admin
      ? [
          createAdminHandler(health, { token: options.adminToken, checks: runner }),
          createProbeHandler(health),
        ]
      : [];
    const server = createTripleServer({ health, plainHttpHandlers, tls: options.tls });
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
    const bound = await listenOrFail(server, options);
    const where =
      options.tls === undefined
        ? `http://${bound.host}:${bound.port} (h2c, HTTP/1.1)`
        : `https://${bound.host}:${bound.port} (TLS: h2, HTTP/1.1)`;
    const token = options.adminToken === undefined ? "" : " (admin token required)";
    const keys = server.handler.exports.map((e) => serviceKey(e.service, e.group, e.version));
    lines.write(`triple-health serving ${keys.join(", ")} on ${where}${token}\n`);
    // Text: changes from here on; the banner above already says what is registered.
    if (!json) health.onChange((event) => io.stdout.write(textChangeLine(prefix, event)));
    const timing = options.checkTiming ?? defaultTiming;
    for (const check of options.checks) {
      lines.write(`${prefix}check ${JSON.stringify(check.name)}: ${check.url} ${timingText(timing)}\n`);
      // NAME and "" both: the registry holds "" NOT_SERVING while any check's source fails for it.
      // startFailing, as a Kubernetes readiness probe: nothing is announced SERVING before it was seen so.
      runner.add({ ...checkProbe(check), services: [check.name, ""], ...timing, startFailing: true });
    }
    const host = {
      health,
      close: async (closeOptions?: { graceMs?: number }) => {
        await runner.close();
        await server.close(closeOptions);
      },
    };
    return serveUntilStopped(host, { ...io, stdout: lines }, { prefix, graceMs: options.graceMs });
  },
};

/** @internal */
export const run = runner(command);
