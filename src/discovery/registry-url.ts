import { ConfigError } from "../wire/config-error.ts";

/** One ZooKeeper server of a registry URL. */
export interface RegistryServer {
  host: string;
  port: number;
}

/** A parsed `zookeeper://` registry URL, in Dubbo's terms. */
export interface RegistryUrl {
  /** Every server of the ensemble: the URL's hosts, then its `backup=` hosts. */
  servers: RegistryServer[];
  /** Root node of the interface-level layout and the mapping (`group=`, Dubbo's default `dubbo`), no slashes. */
  root: string;
  /** Session timeout, ms (`session=`); undefined: the client's default. */
  sessionTimeoutMs?: number;
  /** Connect timeout, ms (`timeout=`); undefined: the client's default. */
  connectTimeoutMs?: number;
  /** `user:password@`: ZooKeeper digest credentials (nodes are then created with the creator's ACL). */
  auth?: { user: string; password: string };
}

// ZooKeeper's client port when a URL leaves it out, as Dubbo's ZookeeperRegistry assumes.
const defaultZooKeeperPort = 2181;
const maxTimeoutMs = 24 * 3_600_000;

/**
 * Reads a registry URL as Dubbo writes it: `zookeeper://h1:p1,h2:p2,h3:p3` or
 * `zookeeper://h1:p1?backup=h2:p2,h3:p3`, with `user:password@`, and the query parameters `session`
 * (session timeout, ms), `timeout` (connect timeout, ms) and `group` (root node, default `dubbo`).
 * Other query parameters are ignored, as Dubbo ignores those it does not know.
 * @throws ConfigError naming what is wrong: the scheme, a host, a port, a parameter.
 */
export function parseRegistryUrl(text: string): RegistryUrl {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(text);
  if (scheme === null)
    throw new ConfigError(`registry URL ${JSON.stringify(text)}: want zookeeper://host:port`);
  if (scheme[1]!.toLowerCase() !== "zookeeper")
    throw new ConfigError(
      `registry URL ${JSON.stringify(text)}: unknown scheme ${scheme[1]}:// (want zookeeper://)`,
    );
  let rest = text.slice(scheme[0].length);
  const hash = rest.indexOf("#");
  if (hash >= 0) rest = rest.slice(0, hash);
  const question = rest.indexOf("?");
  const query = new URLSearchParams(question < 0 ? "" : rest.slice(question + 1));
  let authority = question < 0 ? rest : rest.slice(0, question);
  // A path (zookeeper://h:p/org.apache.dubbo.registry.RegistryService, as Dubbo prints it) names nothing here.
  const slash = authority.indexOf("/");
  if (slash >= 0) authority = authority.slice(0, slash);
  const at = authority.lastIndexOf("@");
  let auth: RegistryUrl["auth"];
  if (at >= 0) {
    const credentials = authority.slice(0, at);
    authority = authority.slice(at + 1);
    const colon = credentials.indexOf(":");
    const user = decode(colon < 0 ? credentials : credentials.slice(0, colon), text);
    const password = colon < 0 ? "" : decode(credentials.slice(colon + 1), text);
    if (user === "") throw new ConfigError(`registry URL ${JSON.stringify(text)}: empty user before @`);
    auth = { user, password };
  }
  const servers = parseServers(authority, text);
  const backup = query.get("backup");
  if (backup !== null && backup !== "") servers.push(...parseServers(backup, text));
  const root = (query.get("group") ?? "dubbo").replace(/^\/+|\/+$/g, "");
  if (root.includes("//") || /[\s\0]/.test(root))
    throw new ConfigError(`registry URL ${JSON.stringify(text)}: invalid group ${JSON.stringify(root)}`);
  const url: RegistryUrl = { servers, root: root === "" ? "dubbo" : root };
  const session = milliseconds(query, "session", text);
  if (session !== undefined) url.sessionTimeoutMs = session;
  const timeout = milliseconds(query, "timeout", text);
  if (timeout !== undefined) url.connectTimeoutMs = timeout;
  if (auth !== undefined) url.auth = auth;
  return url;
}

function decode(part: string, text: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new ConfigError(`registry URL ${JSON.stringify(text)}: malformed %-escape in the credentials`);
  }
}

function parseServers(list: string, text: string): RegistryServer[] {
  if (list === "") throw new ConfigError(`registry URL ${JSON.stringify(text)}: no host`);
  return list.split(",").map((entry) => {
    // [v6]:port, host:port, host
    const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9_.-]+))(?::(\d{1,5}))?$/.exec(entry);
    if (match === null)
      throw new ConfigError(`registry URL ${JSON.stringify(text)}: invalid host ${JSON.stringify(entry)}`);
    const port = match[3] === undefined ? defaultZooKeeperPort : Number(match[3]);
    if (port < 1 || port > 65535)
      throw new ConfigError(`registry URL ${JSON.stringify(text)}: invalid port in ${JSON.stringify(entry)}`);
    return { host: match[1] ?? match[2]!, port };
  });
}

function milliseconds(query: URLSearchParams, name: string, text: string): number | undefined {
  const value = query.get(name);
  if (value === null) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > maxTimeoutMs)
    throw new ConfigError(
      `registry URL ${JSON.stringify(text)}: ${name}=${JSON.stringify(value)} must be a number of milliseconds (1 to 86400000)`,
    );
  return Number(value);
}
