import { defaultAdminPrefix } from "../health/admin-handler.ts";
import { defaultLivePath, defaultReadyPath } from "../health/probe-handler.ts";
import type { Exchange } from "../server/exchange.ts";

/**
 * Paths a proxy answers itself and never forwards: the admin surface and the probes an upstream mounts
 * (`createAdminHandler`, `createProbeHandler`, `serve --admin`). The admin surface trusts loopback
 * callers, and to the upstream every forwarded call comes from the proxy's address: forwarding
 * `/admin/drain` would hand any remote client the operator's controls (hardening II, item 6). The
 * probes are refused too: they report the upstream, not the proxy.
 */
export const defaultLocalPaths: readonly string[] = [defaultAdminPrefix, defaultLivePath, defaultReadyPath];

/**
 * A request target reduced to the path segments any server on the way might route by: absolute-form
 * (`http://host/x`, RFC 9112 §3.2.2) loses its scheme and authority; percent-escapes are decoded (more than
 * once, for servers that decode twice); the query, fragment and anything after a NUL go; `\` counts as
 * `/`, `;params` are dropped from segments, empty and `.` segments vanish and `..` pops one; letters are
 * lower-cased. The result is only compared, never forwarded: it errs on the side of matching.
 * @internal
 */
export function routingSegments(target: string): string[] {
  let path = target;
  const absolute = /^[a-z][a-z0-9+.-]*:\/\/[^/?#\\]*/i.exec(path);
  if (absolute !== null) path = path.slice(absolute[0].length);
  for (let round = 0; round < 4; round++) {
    path = path.split(/[?#\0]/, 1)[0]!;
    if (!path.includes("%")) break;
    path = path.replace(/%([0-9a-f]{2})/gi, (_, hex: string) =>
      String.fromCharCode(Number.parseInt(hex, 16)),
    );
  }
  const segments: string[] = [];
  for (const raw of path.toLowerCase().split(/[/\\]/)) {
    const segment = raw.split(";", 1)[0]!.trim();
    if (segment === "" || segment === ".") continue;
    if (segment === "..") segments.pop();
    else segments.push(segment);
  }
  return segments;
}

/**
 * A test for request targets under any of `paths` (each path and everything below it), however the
 * target is spelled: `//admin/x`, `/ADMIN/set`, `/%61dmin/set`, `/x/../admin/set`, `/admin?x`,
 * `http://host/admin/set`.
 * @internal
 */
export function localPathMatcher(paths: readonly string[]): (target: string) => boolean {
  const prefixes = paths.map(routingSegments).filter((segments) => segments.length > 0);
  return (target) => {
    const segments = routingSegments(target);
    return prefixes.some(
      (prefix) => prefix.length <= segments.length && prefix.every((segment, i) => segment === segments[i]),
    );
  };
}

const notForwardedHeaders = Object.freeze({ "content-type": "text/plain; charset=utf-8" });
const notForwardedBody = Buffer.from("404 not found: the proxy does not forward admin or probe paths\n");

/**
 * The proxy's own answer for a local path: 404, the request body read and dropped (an HTTP/1.1
 * connection stays usable).
 * @internal
 */
export function refuseLocalPath(exchange: Exchange): void {
  exchange.resumeRequest();
  exchange.respond(404, notForwardedHeaders, notForwardedBody, undefined);
}
