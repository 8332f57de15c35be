// Dubbo's interface-level registration: one ephemeral znode per provider export, named after its URL
// (apache/dubbo-go registry/base_registry.go providerRegistry + processURL, common/url.go; Java
// ZookeeperRegistry.toUrlPath). Writer and reader side by side.
import { serviceKey } from "../../health/service-key.ts";
import { queryEscape, queryUnescape } from "./query-escape.ts";

/** One export as registered: where it is and what it is. */
export interface ProviderExport {
  /** The interface (the service's full name, `greet.GreetService`). */
  service: string;
  group: string;
  version: string;
  /** Method names (`Greet`), as the `methods` parameter lists them. */
  methods: readonly string[];
}

/** Who registers: the application and process facts every provider URL carries. */
export interface ProviderIdentity {
  application: string;
  /** The address consumers connect to. */
  host: string;
  port: number;
  /** The `release` parameter (Dubbo writes its own version; we write the package's). */
  release: string;
  pid: number;
  /** ms since the epoch, the `timestamp` parameter (the provider's start). */
  timestamp: number;
}

/** The protocol every URL here names: Dubbo's triple. */
export const tripleProtocol = "tri";

/**
 * The provider URL's parameters: `anyhost`, `application`, `group` and `version` when set,
 * `interface`, `methods`, `pid`, `release`, `serialization=protobuf` (dubbo-go's triple client
 * panics on a serialization it does not know), `side=provider`, `timestamp`.
 */
export function providerParams(exported: ProviderExport, who: ProviderIdentity): Map<string, string> {
  const params = new Map<string, string>([
    ["anyhost", "true"],
    ["application", who.application],
    ["interface", exported.service],
    ["methods", [...exported.methods].sort().join(",")],
    ["pid", String(who.pid)],
    ["release", who.release],
    ["serialization", "protobuf"],
    ["side", "provider"],
    ["timestamp", String(who.timestamp)],
  ]);
  if (exported.group !== "") params.set("group", exported.group);
  if (exported.version !== "") params.set("version", exported.version);
  // dubbo-go drops empty values ("delete empty param key").
  for (const [key, value] of params) if (value === "") params.delete(key);
  return params;
}

/**
 * The provider URL as dubbo-go registers it: `tri://host:port/interface?k=v&…`, the parameters sorted
 * by key (Go's `url.Values.Encode`) and then unescaped (`url.QueryUnescape` of the whole query).
 */
export function buildProviderUrl(exported: ProviderExport, who: ProviderIdentity): string {
  const params = providerParams(exported, who);
  const query = [...params.keys()]
    .sort()
    .map((key) => `${key}=${params.get(key)}`)
    .join("&");
  return `${tripleProtocol}://${hostPort(who.host, who.port)}/${exported.service}?${query}`;
}

/** `host:port`, an IPv6 host in brackets. */
export function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** `/{root}/{QueryEscape(interface)}/providers`: the persistent parent of an interface's provider nodes. */
export function providersPath(root: string, service: string): string {
  return `/${root}/${queryEscape(service)}/providers`;
}

/** `/{root}/{QueryEscape(interface)}/providers/{QueryEscape(url)}`: the ephemeral node of one export. */
export function providerNodePath(root: string, service: string, url: string): string {
  return `${providersPath(root, service)}/${queryEscape(url)}`;
}

/** A provider URL read back from a znode name. */
export interface ProviderUrl {
  protocol: string;
  host: string;
  port: number;
  /** The path without its leading slash (the interface, for Dubbo). */
  path: string;
  params: Map<string, string>;
}

/**
 * Reads a provider znode's name (or an unescaped URL) as a consumer does: undefined for anything that
 * is no `scheme://host:port/path?query` URL — a consumer skips such a node, it does not fail.
 */
export function parseProviderUrl(node: string): ProviderUrl | undefined {
  const text = node.includes("://") ? node : queryUnescape(node);
  if (text === undefined) return undefined;
  const match =
    /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(?:[^@/?]*@)?(\[[0-9A-Fa-f:.]+\]|[^:/?[\]]+):(\d{1,5})(\/[^?]*)?(?:\?(.*))?$/s.exec(
      text,
    );
  if (match === null) return undefined;
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return undefined;
  const params = new Map<string, string>();
  for (const pair of (match[5] ?? "").split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const key = queryUnescape(eq < 0 ? pair : pair.slice(0, eq));
    const value = queryUnescape(eq < 0 ? "" : pair.slice(eq + 1));
    if (key === undefined || value === undefined) return undefined;
    if (!params.has(key)) params.set(key, value);
  }
  return {
    protocol: match[1]!,
    host: match[2]!.replace(/^\[|\]$/g, ""),
    port,
    path: (match[4] ?? "").replace(/^\//, ""),
    params,
  };
}

/** What a consumer asks for: an interface under a group and version, over a protocol. */
export interface ConsumerWant {
  service: string;
  group?: string;
  version?: string;
  /** Default `tri`. */
  protocol?: string;
}

// What dubbo-go's triple client can decode (protocol/triple/client.go); anything else panics there.
const knownSerializations = new Set(["protobuf", "json", "hessian2", "msgpack"]);

/**
 * Whether a provider URL serves what the consumer wants, as dubbo-go matches it: the same service key
 * (`group/interface:version`, version `0.0.0` counts as none), the consumer's protocol, and a
 * serialization its triple client knows (empty means protobuf).
 */
export function providerMatches(url: ProviderUrl, want: ConsumerWant): boolean {
  if (url.protocol !== (want.protocol ?? tripleProtocol)) return false;
  const service = url.params.get("interface") ?? url.path;
  const have = serviceKey(service, url.params.get("group") ?? "", url.params.get("version") ?? "");
  if (have !== serviceKey(want.service, want.group ?? "", want.version ?? "")) return false;
  return knownSerializations.has(url.params.get("serialization") || "protobuf");
}
