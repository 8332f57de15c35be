import { headerValue, type IncomingHeaders } from "../protocol/request-head.ts";
import { ConfigError } from "../wire/config-error.ts";
import { clipPeerText, quotePeerText } from "../wire/peer-text.ts";
import type { RouteCallMetrics } from "./call-metrics.ts";
import type { MethodDefinition, ServiceMethods } from "./service-types.ts";

/** One routable method of one export: `/{service}/{method}` for a group and version. @internal */
export interface Route {
  readonly service: string;
  readonly method: string;
  readonly path: string;
  readonly definition: MethodDefinition;
  /** The export's Dubbo group and version; `""` when it has none. */
  readonly group: string;
  readonly version: string;
  /** @internal This route's call metrics, resolved by the handler on its first call when metrics are on. */
  metrics: RouteCallMetrics | undefined;
}

/** Which export of a service an {@link Router.add} adds: Dubbo's group and version. */
export interface ServiceExport {
  /** Dubbo group, matched against `tri-service-group`. Absent or `""`: none. */
  readonly group?: string | undefined;
  /** Dubbo version, matched against `tri-service-version` (verbatim: `0.0.0` is a version here). */
  readonly version?: string | undefined;
}

/**
 * What a request path leads to, found with one `Map.get`: the route when the service has only the
 * plain export (the headers are not read at all), else the routes by group and version.
 * @internal
 */
export interface PathEntry {
  readonly service: string;
  /** The route of a service exported without group and version only; undefined when `keyed` is set. */
  readonly route: Route | undefined;
  /** Routes by {@link exportKey}, once the service has an export with a group or version. */
  readonly keyed: ReadonlyMap<string, Route> | undefined;
}

/** One export of a service, as added. @internal */
export interface ExportInfo {
  readonly service: string;
  readonly group: string;
  readonly version: string;
}

const serviceNamePattern = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;
const methodNamePattern = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Visible ASCII without spaces: what a header value carries unchanged, and what keeps exportKey's
// space separator unambiguous.
const groupVersionPattern = /^[\x21-\x7e]{1,256}$/;

/**
 * The key of a group and version among a service's exports. dubbo-go keys them `group/version`; a
 * space cannot occur in an export's group or version, so this key cannot collide, whatever a peer sends.
 * @internal
 */
export function exportKey(group: string, version: string): string {
  return `${group} ${version}`;
}

interface ServiceEntry {
  /** Exports by exportKey, in the order added. */
  readonly exports: Map<string, { readonly info: ExportInfo; readonly methods: ServiceMethods }>;
  /** True once an export has a group or version: requests then pick by tri-service-group/-version. */
  keyed: boolean;
}

/**
 * Maps request paths to methods. A lookup is one `Map.get` on the path as received; paths with a
 * query string are looked up without it; a path that matches no method exactly is tried with the
 * method's first letter lower-cased, as dubbo-go's method_route_mux does (Java stubs send
 * `/greet.GreetService/greet`).
 *
 * A service may be added more than once, under different Dubbo groups and versions. While it has
 * only its plain export (no group, no version) the `tri-service-group`/`tri-service-version` headers
 * do not select anything (handlers still see them); once it has an export with a group or version,
 * every request picks the export whose group and version equal the headers exactly, a missing
 * header being `""` — no header is the plain export — and anything else is UNIMPLEMENTED, as in
 * dubbo-go.
 * @internal
 */
export class Router {
  readonly #services = new Map<string, ServiceEntry>();
  #paths = new Map<string, PathEntry>();
  // The same entries by path with the method's first letter lower-cased; the first registration wins.
  #lower = new Map<string, PathEntry>();

  /** Service names, in the order they were first added. */
  get services(): string[] {
    return [...this.#services.keys()];
  }

  /** Every export (a service name with its group and version), in the order added. */
  get exports(): ExportInfo[] {
    const result: ExportInfo[] = [];
    for (const service of this.#services.values())
      for (const { info } of service.exports.values()) result.push(info);
    return result;
  }

  /** The method names of one export (in the order given), empty for an export it does not have. */
  methodNames(info: ExportInfo): string[] {
    const methods = this.#services
      .get(info.service)
      ?.exports.get(exportKey(info.group, info.version))?.methods;
    return methods === undefined ? [] : Object.keys(methods);
  }

  has(service: string): boolean {
    return this.#services.has(service);
  }

  add(service: string, methods: ServiceMethods, options: ServiceExport = {}): void {
    if (!serviceNamePattern.test(service))
      throw new ConfigError(`invalid service name ${JSON.stringify(service)}`);
    const group = checkGroupVersion(options.group, "group");
    const version = checkGroupVersion(options.version, "version");
    const key = exportKey(group, version);
    const existing = this.#services.get(service);
    if (existing?.exports.has(key))
      throw new ConfigError(`service ${describeExport(service, group, version)} is already added`);
    const entries = Object.entries(methods);
    for (const [method, definition] of entries) {
      if (!methodNamePattern.test(method))
        throw new ConfigError(`invalid method name ${JSON.stringify(method)}`);
      if (definition.kind !== "unary" && definition.kind !== "server_streaming") {
        throw new ConfigError(
          `method ${service}/${method}: unsupported kind ${JSON.stringify((definition as { kind: unknown }).kind)}`,
        );
      }
    }
    const entry = existing ?? { exports: new Map(), keyed: false };
    entry.exports.set(key, { info: Object.freeze({ service, group, version }), methods });
    if (group !== "" || version !== "") entry.keyed = true;
    this.#services.set(service, entry);
    this.#rebuild();
  }

  /**
   * The entry of a request path, or undefined when no service has it: the exact path, the path
   * without its query string, then either with the method's first letter lower-cased.
   */
  find(url: string): PathEntry | undefined {
    const found = this.#paths.get(url);
    if (found !== undefined) return found;
    const query = url.indexOf("?");
    const path = query < 0 ? url : url.slice(0, query);
    if (query >= 0) {
      const exact = this.#paths.get(path);
      if (exact !== undefined) return exact;
    }
    return this.#lower.get(lowerFirstMethodLetter(path));
  }

  /**
   * Why a request is not routed, as the UNIMPLEMENTED message: unknown service, unknown method, or
   * no export for the group and version asked. Long names are cut so an error never echoes kilobytes back.
   */
  describeMiss(url: string, group = "", version = ""): string {
    const path = url.split("?")[0]!;
    const parts = path.split("/");
    if (parts.length !== 3 || parts[0] !== "" || parts[1] === "" || parts[2] === "") {
      return `unknown path ${clipPeerText(path)}`;
    }
    const service = parts[1]!;
    const entry = this.#services.get(service);
    if (entry === undefined) return `unknown service ${clipPeerText(service)}`;
    if (this.find(path) !== undefined) {
      return `no implementation of ${service} for service group ${quotePeerText(group)} and service version ${quotePeerText(version)}`;
    }
    return `unknown method ${clipPeerText(parts[2]!)} for service ${service}`;
  }

  // Adds are rare (start-up), lookups are not: the maps are rebuilt whole on each add, in add order,
  // so that the lower-case index keeps "first registration wins" however the adds interleave.
  #rebuild(): void {
    const paths = new Map<string, PathEntry>();
    const keyedRoutes = new Map<string, Map<string, Route>>();
    for (const [service, entry] of this.#services) {
      for (const [key, { info, methods }] of entry.exports) {
        for (const [method, definition] of Object.entries(methods)) {
          const path = `/${service}/${method}`;
          const route: Route = {
            service,
            method,
            path,
            definition,
            group: info.group,
            version: info.version,
            metrics: undefined,
          };
          if (!entry.keyed) {
            paths.set(path, { service, route, keyed: undefined });
            continue;
          }
          let routes = keyedRoutes.get(path);
          if (routes === undefined) {
            routes = new Map();
            keyedRoutes.set(path, routes);
            paths.set(path, { service, route: undefined, keyed: routes });
          }
          routes.set(key, route);
        }
      }
    }
    const lower = new Map<string, PathEntry>();
    for (const [path, entry] of paths) {
      const folded = lowerFirstMethodLetter(path);
      if (!lower.has(folded)) lower.set(folded, entry);
    }
    this.#paths = paths;
    this.#lower = lower;
  }
}

/**
 * The route of an entry for the request's `tri-service-group` and `tri-service-version` (absent =
 * `""`); the headers are read only for a service that has an export with a group or version.
 * @internal
 */
export function selectRoute(entry: PathEntry, headers: IncomingHeaders): Route | undefined {
  const keyed = entry.keyed;
  if (keyed === undefined) return entry.route;
  return keyed.get(
    exportKey(
      headerValue(headers, "tri-service-group") ?? "",
      headerValue(headers, "tri-service-version") ?? "",
    ),
  );
}

/** `/svc/Method` → `/svc/method`: dubbo-go's fallback key (only the first letter after the last `/`). */
function lowerFirstMethodLetter(path: string): string {
  const slash = path.lastIndexOf("/");
  if (slash < 0 || slash === path.length - 1) return path;
  const first = path.charCodeAt(slash + 1);
  // A-Z only: every method name here is ASCII (methodNamePattern).
  if (first < 0x41 || first > 0x5a) return path;
  return path.slice(0, slash + 1) + String.fromCharCode(first + 0x20) + path.slice(slash + 2);
}

function checkGroupVersion(value: string | undefined, what: string): string {
  if (value === undefined || value === "") return "";
  if (typeof value !== "string" || !groupVersionPattern.test(value))
    throw new ConfigError(
      `invalid service ${what} ${JSON.stringify(value)}: 1-256 visible ASCII characters, no spaces`,
    );
  return value;
}

/** `g1/greet.GreetService:1.0.0`-style text for messages (every part shown, 0.0.0 too). */
function describeExport(service: string, group: string, version: string): string {
  return `${group === "" ? "" : `${group}/`}${service}${version === "" ? "" : `:${version}`}`;
}
