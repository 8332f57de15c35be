// `serve -check NAME=URL`: the text of each flag read into what to probe (pure, so every usage error is a
// unit test), and the probe that does it built from that.
import { createHealthClient } from "../client/health-client.ts";
import { remoteHealthCheck } from "../client/remote-health-check.ts";
import { httpCheck, tcpCheck } from "../health/builtin-checks.ts";
import type { CheckProbe } from "../health/checks.ts";
import { execCheck } from "../health/exec-check.ts";
import { FlagError } from "./flags.ts";

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
}

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
  return { name, url, target: parseTarget(url, bad) };
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
