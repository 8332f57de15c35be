// `serve -check NAME=URL`: the text of each flag read into what to probe (pure, so every usage error is a
// unit test), and the probe that does it built from that.
import { createHealthClient } from "../client/health-client.ts";
import { remoteHealthCheck } from "../client/remote-health-check.ts";
import { httpCheck, tcpCheck } from "../health/builtin-checks.ts";
import type { CheckProbe } from "../health/checks.ts";
import { execCheck } from "../health/exec-check.ts";
import { FlagError, parseDuration } from "./flags.ts";

/** What one `-check` probes. @internal */
export type CheckTarget =
  | { readonly kind: "tcp"; readonly host: string; readonly port: number }
  /** `url` as undici takes it; only 2xx passes. */
  | { readonly kind: "http"; readonly url: string }
  /** `address` is `http://host:port` for the health client; `service` the remote one (`""`: the server). */
  | { readonly kind: "grpc"; readonly address: string; readonly service: string }
  /** The argv to spawn: the words of a plain command line, else `/bin/sh -c LINE`. */
  | { readonly kind: "exec"; readonly argv: readonly string[] };

/** One parsed `-check NAME=URL`. @internal */
export interface CheckFlag {
  /** The health service the check drives (SERVING while it passes); also the check's name. */
  readonly name: string;
  /** The URL as given, for the banner. */
  readonly url: string;
  readonly target: CheckTarget;
  /** This check's own settings (`,interval=5s,…` or -config), over the global -check-* flags. */
  readonly settings?: CheckSettings;
}

/** A check's timing and thresholds, each optional (the global flags fill the rest). @internal */
export interface CheckSettings {
  intervalMs?: number;
  timeoutMs?: number;
  failureThreshold?: number;
  successThreshold?: number;
  initialDelayMs?: number;
}

/** The per-check setting names (as in `-check NAME=URL,interval=5s` and -config) and what each sets. */
const settingFields = {
  interval: "intervalMs",
  timeout: "timeoutMs",
  failures: "failureThreshold",
  successes: "successThreshold",
  "initial-delay": "initialDelayMs",
} as const satisfies Record<string, keyof CheckSettings>;

type SettingName = keyof typeof settingFields;

// Node turns a timer over 2^31-1 ms into 1 ms: a day is plenty for a probe.
const maxSettingMs = 24 * 3_600_000;

/**
 * Reads one per-check setting (`interval`, `timeout`, `initial-delay`: a duration or a number of ms;
 * `failures`, `successes`: a whole number ≥ 1) into `settings`; `bad` builds the error naming the field.
 * @internal
 */
export function readCheckSetting(
  settings: CheckSettings,
  field: string,
  value: unknown,
  bad: (why: string) => FlagError,
): void {
  if (!Object.hasOwn(settingFields, field))
    throw bad(`unknown setting ${JSON.stringify(field)} (want ${Object.keys(settingFields).join(", ")})`);
  const key = settingFields[field as SettingName];
  if (key === "failureThreshold" || key === "successThreshold") {
    const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > 1_000_000)
      throw bad(`${field} must be a whole number of at least 1, got ${JSON.stringify(value)}`);
    settings[key] = n;
    return;
  }
  let ms: number;
  if (typeof value === "number") ms = value;
  else if (typeof value === "string") {
    try {
      ms = parseDuration(value, field);
    } catch {
      throw bad(`${field} must be a duration such as 250ms, 5s or 1m30s, got ${JSON.stringify(value)}`);
    }
  } else throw bad(`${field} must be a duration such as 5s, got ${JSON.stringify(value)}`);
  const min = key === "initialDelayMs" ? 0 : 1;
  if (!Number.isFinite(ms) || ms < min || ms > maxSettingMs)
    throw bad(`${field} must be within ${min === 0 ? "0" : "1ms"} and 24h, got ${JSON.stringify(value)}`);
  settings[key] = ms;
}

// `,interval=5s` and its kin at the end of a -check's URL (taken from the right, so an exec: command line
// with commas of its own keeps them).
const trailingSetting = /,(interval|timeout|failures|successes|initial-delay)=([^,]*)$/;

const forms = "tcp://host:port, http(s)://host:port/path, grpc://host:port/service or exec:command";

// Visible ASCII without spaces: a health service name a probe's caller can type and a log can show.
const namePattern = /^[\x21-\x7e]+$/;
const maxNameLength = 200;
// Host names and IPv4 addresses; IPv6 comes in brackets. `_` too: Docker Compose service names have it.
const hostPattern = /^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;
const ipv6Pattern = /^\[[0-9A-Fa-f:.]+\]$/;
// Characters after which `/bin/sh -c LINE` would do nothing but split LINE on blanks: such a line is
// spawned as those words with no shell in between. Anything else (quotes, $, |, &, ;, globs, ~, =,
// redirections, …) is left to the shell.
const plainCommandPattern = /^[A-Za-z0-9_./:@%+,\s-]+$/;

/**
 * The argv an `exec:` check spawns: a plain command line (words of letters, digits and `_ . / : @ % + , -`)
 * is split on blanks and run directly, as a Kubernetes exec probe runs its argv; a line with any shell
 * syntax runs as `/bin/sh -c LINE`, as Docker's HEALTHCHECK CMD does. Either way it does what the shell
 * would, except that a plain line's program is looked up on PATH, so builtins (`exit`) need the shell.
 * @internal
 */
export function execArgv(line: string): string[] {
  return plainCommandPattern.test(line) ? line.trim().split(/\s+/) : ["/bin/sh", "-c", line];
}

/** Reads one `-check NAME=URL`; throws FlagError naming the flag and what is wrong. @internal */
export function parseCheckFlag(text: string): CheckFlag {
  const bad = (why: string) => new FlagError(`invalid -check ${JSON.stringify(text)}: ${why}`);
  const eq = text.indexOf("=");
  if (eq < 0) throw bad(`want NAME=URL with URL one of ${forms}`);
  const name = text.slice(0, eq);
  const url = text.slice(eq + 1);
  if (name === "") throw bad('missing NAME before "=" (the health service the check drives)');
  if (!namePattern.test(name) || name.length > maxNameLength)
    throw bad(`NAME must be visible ASCII without spaces, at most ${maxNameLength} characters`);
  let target = url;
  const settings: CheckSettings = {};
  let given = false;
  for (let match = trailingSetting.exec(target); match !== null; match = trailingSetting.exec(target)) {
    const field = match[1] as SettingName;
    if (settings[settingFields[field]] !== undefined) throw bad(`${field} is given twice`);
    readCheckSetting(settings, field, match[2]!, bad);
    given = true;
    target = target.slice(0, match.index);
  }
  return { name, url: target, target: parseTarget(target, bad), ...(given ? { settings } : {}) };
}

/** Reads every `-check`; a NAME given twice is an error (each check drives its own service). @internal */
export function parseCheckFlags(texts: readonly string[]): CheckFlag[] {
  const checks = texts.map(parseCheckFlag);
  const seen = new Set<string>();
  for (const check of checks) {
    if (seen.has(check.name)) throw new FlagError(`-check ${JSON.stringify(check.name)} is given twice`);
    seen.add(check.name);
  }
  return checks;
}

function parseTarget(url: string, bad: (why: string) => FlagError): CheckTarget {
  if (url.startsWith("exec:")) {
    const line = url.slice("exec:".length);
    if (line.trim() === "") throw bad("exec: needs a command");
    return { kind: "exec", argv: execArgv(line) };
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) throw bad(`want a URL: ${forms}`);
  const rest = url.slice(scheme.length + 3);
  const end = rest.search(/[/?#]/);
  const authority = end < 0 ? rest : rest.slice(0, end);
  const tail = end < 0 ? "" : rest.slice(end);
  switch (scheme) {
    case "tcp": {
      const { host, port } = hostPort(authority, true, bad);
      if (tail !== "" && tail !== "/") throw bad("tcp:// takes host:port only, no path");
      return { kind: "tcp", host: unbracket(host), port: port! };
    }
    case "grpc": {
      const { host, port } = hostPort(authority, true, bad);
      if (/[?#]/.test(tail)) throw bad("grpc:// takes host:port/service, no query or fragment");
      let service: string;
      try {
        service = decodeURIComponent(tail.slice(1));
      } catch {
        throw bad("the service is not valid percent-encoding");
      }
      return { kind: "grpc", address: `http://${host}:${port}`, service };
    }
    case "http":
    case "https": {
      hostPort(authority, false, bad);
      // The authority is checked above, so only what URL itself normalizes remains (path, query).
      return { kind: "http", url: new URL(url).href };
    }
    default:
      throw bad(`unknown scheme "${scheme}://" (want ${forms})`);
  }
}

function hostPort(
  authority: string,
  portRequired: boolean,
  bad: (why: string) => FlagError,
): { host: string; port: number | undefined } {
  if (authority.includes("@")) throw bad("credentials in the URL are not supported");
  const match = /^(\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(authority)!;
  const host = match[1]!;
  const portText = match[2];
  if (host === "")
    throw bad(portText?.includes(":") ? "put an IPv6 address in brackets: [::1]:port" : "missing host");
  if (!(ipv6Pattern.test(host) || hostPattern.test(host))) throw bad(`bad host ${JSON.stringify(host)}`);
  if (portText === undefined) {
    if (portRequired) throw bad("missing port (want host:port)");
    return { host, port: undefined };
  }
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port < 1 || port > 65535)
    throw bad(`bad port ${JSON.stringify(portText)} (want 1-65535)`);
  return { host, port };
}

function unbracket(host: string): string {
  return host.startsWith("[") ? host.slice(1, -1) : host;
}

/**
 * The probe of one parsed check, named after its service. `http(s)://` passes on 2xx only (a sidecar
 * does not follow redirects, and a 3xx from a health URL is usually a login page, not health); a
 * `grpc://` probe owns its health client and closes it with the check.
 * @internal
 */
export function checkProbe(check: CheckFlag): CheckProbe {
  const { name, target } = check;
  switch (target.kind) {
    case "tcp":
      return tcpCheck({ host: target.host, port: target.port, name });
    case "http":
      return httpCheck({ url: target.url, name, expectStatus: (status) => status >= 200 && status < 300 });
    case "exec":
      return execCheck({ command: target.argv, name });
    case "grpc": {
      const client = createHealthClient(target.address);
      const probe = remoteHealthCheck({ client, service: target.service, name });
      return {
        ...probe,
        async close() {
          await probe.close?.();
          await client.close();
        },
      };
    }
  }
}

/**
 * Reads a `-config` file's text: `{"checks": [{"name": "db", "url": "tcp://db:5432", "interval": "5s",
 * "timeout": "1s", "failures": 3, "successes": 1, "initial-delay": "10s"}, …]}`; every field but `name` and
 * `url` optional (durations as text such as `5s`, or numbers of ms). Throws a FlagError naming the file and
 * the field (`checks[1].interval …`). @internal
 */
export function parseCheckConfig(text: string, file: string): CheckFlag[] {
  const bad = (field: string) => (why: string) =>
    new FlagError(`invalid -config ${JSON.stringify(file)}: ${field === "" ? "" : `${field}: `}${why}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw bad("")(`not JSON (${(error as Error).message})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw bad("")('want an object such as {"checks": [{"name": "db", "url": "tcp://db:5432"}]}');
  for (const key of Object.keys(value)) if (key !== "checks") throw bad(key)("unknown field (want checks)");
  const checks = (value as { checks?: unknown }).checks;
  if (checks === undefined) return [];
  if (!Array.isArray(checks)) throw bad("checks")("must be an array");
  return checks.map((entry: unknown, i) => {
    const at = `checks[${i}]`;
    if (typeof entry !== "object" || entry === null || Array.isArray(entry))
      throw bad(at)("must be an object with name and url");
    const fields = entry as Record<string, unknown>;
    const { name, url } = fields;
    if (typeof name !== "string")
      throw bad(`${at}.name`)("must be a string (the health service the check drives)");
    if (typeof url !== "string") throw bad(`${at}.url`)(`must be a string: ${forms}`);
    let parsed: CheckFlag;
    try {
      parsed = parseCheckFlag(`${name}=${url}`);
    } catch (error) {
      throw bad(`${at}`)((error as Error).message.replace(/^invalid -check "[\s\S]*?": /, ""));
    }
    const settings: CheckSettings = { ...parsed.settings };
    for (const [field, setting] of Object.entries(fields)) {
      if (field === "name" || field === "url") continue;
      readCheckSetting(settings, field, setting, (why) => bad(`${at}.${field}`)(why));
    }
    return Object.keys(settings).length === 0 ? parsed : { ...parsed, settings };
  });
}
