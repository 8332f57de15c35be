import { networkInterfaces } from "node:os";
import { ConfigError } from "../wire/config-error.ts";

/**
 * The address consumers are told to connect to: the `registryHost` option (`host` or `host:port`), else
 * Dubbo's `DUBBO_IP_TO_REGISTRY` / `DUBBO_PORT_TO_REGISTRY` (what a container sets when its address
 * differs from the one bound), else the bound address, else — bound to `0.0.0.0` or `::` — the first
 * non-internal IPv4 address of the machine (then IPv6, then loopback).
 * @throws ConfigError for a port that is no port.
 */
export function registerAddress(
  bound: { host: string; port: number },
  registryHost: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  interfaces: ReturnType<typeof networkInterfaces> = networkInterfaces(),
): { host: string; port: number } {
  let host: string | undefined;
  let port: number | undefined;
  if (registryHost !== undefined && registryHost !== "") {
    // host, host:port, [v6]:port, or a bare IPv6 address.
    const match = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(registryHost);
    if (match !== null) {
      host = match[1] ?? match[2];
      if (match[3] !== undefined) port = checkPort(match[3], "registryHost");
    } else if (/^[0-9A-Fa-f:.]+$/.test(registryHost)) host = registryHost;
    else throw new ConfigError(`registryHost ${JSON.stringify(registryHost)} is no host or host:port`);
  }
  host ??= nonEmpty(env["DUBBO_IP_TO_REGISTRY"]);
  const envPort = nonEmpty(env["DUBBO_PORT_TO_REGISTRY"]);
  if (port === undefined && envPort !== undefined) port = checkPort(envPort, "DUBBO_PORT_TO_REGISTRY");
  const boundHost = bound.host.replace(/^\[|\]$/g, "");
  if (host === undefined)
    host = boundHost === "0.0.0.0" || boundHost === "::" ? firstAddress(interfaces) : boundHost;
  return { host, port: port ?? bound.port };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

function checkPort(text: string, what: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65535)
    throw new ConfigError(`${what}: ${JSON.stringify(text)} is no port number (1-65535)`);
  return port;
}

function firstAddress(interfaces: ReturnType<typeof networkInterfaces>): string {
  const all = Object.values(interfaces).flatMap((list) => list ?? []);
  const external = all.filter((address) => !address.internal);
  return (
    external.find((address) => address.family === "IPv4")?.address ??
    external.find((address) => address.family === "IPv6" && !address.address.startsWith("fe80"))?.address ??
    "127.0.0.1"
  );
}
