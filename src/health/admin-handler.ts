import { createHash, timingSafeEqual } from "node:crypto";
import { isIP } from "node:net";
import { hostname } from "node:os";
import { parseServingStatus, ServingStatus, servingStatusName } from "../codec/health-types.ts";
import type { MetricRegistry } from "../metrics/metric-registry.ts";
import { answerMetrics, defaultMetricsPath } from "../server/metrics-handler.ts";
import type { PlainHttpHandler, PlainHttpRequest, PlainHttpResponse } from "../server/service-types.ts";
import { RecentChanges, sourceOf } from "./admin-changes.ts";
import { AdminEventStreams, defaultEventHeartbeatMs, defaultMaxEventStreams } from "./admin-events.ts";
import type { HealthCheckRunner } from "./checks.ts";
import type { HealthRegistry } from "./registry.ts";
import { pageSecurityHeaders, statusPageCss, statusPageHtml, statusPageScript } from "./status-page.ts";

/** Options of {@link createAdminHandler}: who may call it, where it is mounted, its limits. */
export interface AdminHandlerOptions {
  /**
   * Bearer token every request must carry (`Authorization: Bearer <token>`). Without one, only the
   * loopback restriction protects the endpoints.
   */
  token?: string;
  /** Accept requests from non-loopback addresses. Default false; set a token when you turn it on. */
  allowRemote?: boolean;
  /** Path prefix. Default {@link defaultAdminPrefix}. */
  prefix?: string;
  /** Checks whose state `GET /admin/health` also reports. */
  checks?: HealthCheckRunner;
  /**
   * What the server has registered (registry, session state, nodes, last error), reported by
   * `GET /admin/health` as `registration` and shown on the status page; undefined: nothing to report.
   */
  registration?: () => object | undefined;
  /** Largest POST body accepted. Default 64 KiB. */
  maxBodyBytes?: number;
  /**
   * Host names (without port) the admin endpoints answer to besides the loopback ones (`localhost`,
   * `*.localhost`, `127.x.x.x`, `[::1]`). A request whose `Host` (`:authority` on HTTP/2) is anything else
   * gets 403: a web page whose name an attacker re-points at 127.0.0.1 (DNS rebinding) sends its own
   * name. Add the names remote operators use when `allowRemote` is on; `"*"` turns the check off.
   */
  allowedHosts?: readonly string[];
  /**
   * Most services `POST /admin/set` may register that nothing else registered (default
   * {@link defaultMaxAdminServices}); clearing such a service's override (`status: null`) unregisters it.
   */
  maxServices?: number;
  /** Longest service name `POST /admin/set` accepts, in UTF-8 bytes (default {@link defaultMaxAdminNameBytes}). */
  maxNameBytes?: number;
  /**
   * Most `GET /admin/events` streams open at once (the status page holds one each); one more gets 429.
   * Default {@link defaultMaxEventStreams}.
   */
  maxEventStreams?: number;
  /** Interval of the event streams' heartbeat comment, ms. Default {@link defaultEventHeartbeatMs}. */
  eventHeartbeatMs?: number;
  /**
   * Also answer `GET /metrics` (beside the prefix, where Prometheus looks) with these metrics, behind the
   * same guards as the admin endpoints: loopback (or `allowRemote`), Host, and the bearer token when one is
   * set (Prometheus sends it with `authorization: {credentials: …}` in its scrape config).
   */
  metrics?: MetricRegistry;
  /** The version `GET /admin/health`'s `identity` reports (the status page shows it). */
  version?: string;
  /** The addresses this process listens on (URLs), for `identity` (the status page shows them). */
  addresses?: () => readonly string[];
  /**
   * How often the event streams look for state that changed without a status change (a check's last
   * attempt, the registry session), ms. Default 1000 with `checks` or `registration`, else 0 (off).
   */
  refreshMs?: number;
}

/** Default {@link AdminHandlerOptions.prefix}; a proxy never forwards paths under it (src/proxy/local-paths.ts). */
export const defaultAdminPrefix = "/admin";
/** Default {@link AdminHandlerOptions.maxServices}: well below the List limit (100), so List keeps working. */
export const defaultMaxAdminServices = 32;
/** Default {@link AdminHandlerOptions.maxNameBytes}: a `group/interface:version` service key fits many times. */
export const defaultMaxAdminNameBytes = 512;
// The event streams' defaults, where the other defaults of these options are.
export { defaultEventHeartbeatMs, defaultMaxEventStreams };

interface AdminRoute {
  method: string;
  /** Answered without the token: the page shell and its assets, which hold no data. */
  open?: boolean;
  run: (body: Record<string, unknown>) => PlainHttpResponse;
}

const jsonHeaders = { "content-type": "application/json", "cache-control": "no-store" } as const;

/**
 * The operator's control surface over a registry, as a {@link PlainHttpHandler} (the server mounts it
 * only when configured). JSON over HTTP/1.1 or HTTP/2:
 *
 * - `GET  /admin/health` → 200 `{draining, shutdown, services: [{service, status, reason, since, sinceMs,
 *   base, override, failing: [{source, reason}], source}], changes: [{time, timeMs, service, from, to,
 *   reason, source}], checks?: [...]}`; statuses by name (`"SERVING"`), `since` as an ISO time, `source`
 *   the layer that decides the status (`shutdown`, `drain`, `override`, `check`, `set`), `changes` the
 *   last 50 changes, oldest first.
 * - `GET  /admin/events` → `text/event-stream`: `event: health` with that same JSON, on connect and after
 *   each change (see {@link AdminEventStreams}); at most `maxEventStreams` (429).
 * - `GET  /admin/` → the status page (HTML; `status.js`, `status.css` beside it), served to anyone who
 *   passes the address, Host and Origin checks: it holds no data and asks for the token when the data
 *   needs one.
 * - `POST /admin/drain`  `{reason?}` → 200 `{draining: true}`: every status NOT_SERVING until resumed.
 * - `POST /admin/resume` `{reason?}` → 200 `{draining: false}`; 409 once the server is shutting down.
 * - `POST /admin/set`    `{service, status, reason?}` → 200 `{service, status}`: an operator override
 *   (`SERVING`, `NOT_SERVING` or `UNKNOWN`) that beats checks until cleared with `status: null`.
 *
 * Guards, in this order: requests from non-loopback addresses get 403 unless `allowRemote`; with a
 * `token`, a missing or wrong bearer token gets 401; POST bodies must be `application/json` (415
 * otherwise — this also keeps browsers from posting here cross-site without a preflight) and at most
 * `maxBodyBytes` (413). Errors are `{"error": "..."}`.
 */
export function createAdminHandler(
  registry: HealthRegistry,
  options: AdminHandlerOptions = {},
): PlainHttpHandler {
  const prefix = (options.prefix ?? defaultAdminPrefix).replace(/\/+$/, "");
  const maxBodyBytes = options.maxBodyBytes ?? 64 * 1024;
  const tokenDigest = options.token === undefined ? undefined : digest(options.token);
  const allowedHosts = new Set((options.allowedHosts ?? []).map((host) => host.toLowerCase()));
  const limits: SetLimits = {
    maxServices: options.maxServices ?? defaultMaxAdminServices,
    maxNameBytes: options.maxNameBytes ?? defaultMaxAdminNameBytes,
    created: new Set(),
  };
  const changes = new RecentChanges(registry);
  const state = () => ({
    ...describe(registry, options.checks, changes, options.registration?.()),
    identity: identity(options.version, options.addresses?.()),
  });
  const events = new AdminEventStreams(registry, state, {
    maxStreams: options.maxEventStreams ?? defaultMaxEventStreams,
    heartbeatMs: options.eventHeartbeatMs ?? defaultEventHeartbeatMs,
    refreshMs:
      options.refreshMs ??
      (options.checks !== undefined || options.registration !== undefined ? defaultRefreshMs : 0),
  });
  const openEvents = () => events.open();
  const page = statusPageHtml(prefix);
  // A Map, not an object literal: a path segment such as `__proto__` or `constructor` must find nothing,
  // not an inherited property (hardening II, item 1).
  const routes = new Map<string, AdminRoute>([
    ["", { method: "GET", open: true, run: () => asset("text/html; charset=utf-8", page) }],
    [
      "status.js",
      { method: "GET", open: true, run: () => asset("text/javascript; charset=utf-8", statusPageScript) },
    ],
    ["status.css", { method: "GET", open: true, run: () => asset("text/css; charset=utf-8", statusPageCss) }],
    ["health", { method: "GET", run: () => ok(state()) }],
    ["events", { method: "GET", run: openEvents }],
    [
      "drain",
      {
        method: "POST",
        run(body) {
          registry.drain(reasonOf(body, "drained by operator"));
          return ok({ draining: registry.draining });
        },
      },
    ],
    [
      "resume",
      {
        method: "POST",
        run(body) {
          if (registry.isShutdown) return error(409, "the server is shutting down");
          registry.resume(reasonOf(body, "resumed by operator"));
          return ok({ draining: registry.draining });
        },
      },
    ],
    ["set", { method: "POST", run: (body) => setOverride(registry, body, limits) }],
  ]);

  return (request) => {
    const metricsPath = options.metrics !== undefined && request.path === defaultMetricsPath;
    if (!metricsPath && request.path !== prefix && !request.path.startsWith(`${prefix}/`)) return undefined;
    if (!options.allowRemote && !isLoopback(request.remoteAddress))
      return error(403, "the admin endpoints answer loopback clients only");
    const origin = checkHostAndOrigin(request, allowedHosts);
    if (origin !== undefined) return error(403, origin);
    // `/admin` and `/admin/` are both the page.
    const route = metricsPath ? undefined : routes.get(request.path.slice(prefix.length + 1));
    if (tokenDigest !== undefined && route?.open !== true && !bearerMatches(request, tokenDigest))
      return {
        ...error(401, "a valid bearer token is required"),
        headers: { ...jsonHeaders, "www-authenticate": "Bearer" },
      };
    if (metricsPath) return answerMetrics(options.metrics as MetricRegistry, request);
    if (route === undefined) return error(404, "no such admin endpoint");
    // HEAD is GET without the body (RFC 9110 §9.3.2), except on the event stream (it would hold a slot open).
    const head = request.method === "HEAD" && route.method === "GET" && route.run !== openEvents;
    if (request.method !== route.method && !head) {
      const allow = route.method === "GET" && route.run !== openEvents ? "GET, HEAD" : route.method;
      return { ...error(405, `use ${route.method}`), headers: { ...jsonHeaders, allow } };
    }
    if (head) return withoutBody(route.run({}) as PlainHttpResponse);
    if (route.method === "GET") return route.run({});
    const body = readJsonBody(request, maxBodyBytes);
    return body.ok ? route.run(body.value) : body.response;
  };
}

const defaultRefreshMs = 1000;
// Once: computed at each call, it would move by a millisecond now and then.
const processStartedMs = Math.round(Date.now() - process.uptime() * 1000);

/**
 * Which process answers: host name, pid, versions, start, uptime and listening addresses (the status
 * page's identity line).
 */
function identity(version: string | undefined, addresses: readonly string[] | undefined): object {
  return {
    host: hostname(),
    pid: process.pid,
    ...(version === undefined ? {} : { version }),
    node: process.version,
    startedMs: processStartedMs,
    uptimeMs: Date.now() - processStartedMs,
    ...(addresses === undefined ? {} : { addresses }),
  };
}

/** A GET answer for HEAD: its status and headers, its length, no body. */
function withoutBody(response: PlainHttpResponse): PlainHttpResponse {
  const { body, ...rest } = response;
  const length =
    body === undefined ? 0 : typeof body === "string" ? Buffer.byteLength(body) : body.byteLength;
  return { ...rest, headers: { ...rest.headers, "content-length": String(length) } };
}

function describe(
  registry: HealthRegistry,
  checks: HealthCheckRunner | undefined,
  changes: RecentChanges,
  registration: object | undefined,
): object {
  const name = (status: ServingStatus | undefined) =>
    status === undefined ? null : servingStatusName(status);
  return {
    draining: registry.draining,
    shutdown: registry.isShutdown,
    services: registry.snapshot().map((s) => ({
      service: s.service,
      status: servingStatusName(s.status),
      reason: s.reason,
      since: new Date(s.since).toISOString(),
      sinceMs: s.since,
      base: name(s.base),
      override: name(s.override),
      failing: s.failing,
      source: sourceOf(registry, s),
    })),
    changes: changes.list(),
    ...(checks === undefined ? {} : { checks: checks.states() }),
    ...(registration === undefined ? {} : { registration }),
  };
}

interface SetLimits {
  readonly maxServices: number;
  readonly maxNameBytes: number;
  /** Services this handler registered through `set` (and nothing else since). */
  readonly created: Set<string>;
}

function setOverride(
  registry: HealthRegistry,
  body: Record<string, unknown>,
  limits: SetLimits,
): PlainHttpResponse {
  const { service, status } = body;
  if (typeof service !== "string") return error(400, "'service' must be a string");
  if (Buffer.byteLength(service) > limits.maxNameBytes)
    return error(400, `'service' is longer than ${limits.maxNameBytes} bytes`);
  const reason = reasonOf(body, "set by operator");
  // Names that left the registry (cleared, or taken back below) no longer count.
  for (const name of limits.created) if (!registry.has(name)) limits.created.delete(name);
  if (status === null) {
    registry.override(service, undefined, reason);
    return ok({ service, override: null, status: statusName(registry.get(service)) });
  }
  const parsed =
    typeof status === "string" || typeof status === "number" ? parseServingStatus(status) : undefined;
  if (parsed === undefined || parsed === ServingStatus.ServiceUnknown)
    return error(400, "'status' must be SERVING, NOT_SERVING, UNKNOWN or null (clears the override)");
  if (!registry.has(service)) {
    if (limits.created.size >= limits.maxServices)
      return error(
        429,
        `${limits.maxServices} services registered through the admin surface already; clear one (status: null) first`,
      );
    limits.created.add(service);
  }
  registry.override(service, parsed, reason);
  return ok({ service, override: servingStatusName(parsed), status: statusName(registry.get(service)) });
}

/**
 * Why the request's Host or Origin is refused, or undefined when both are fine. Host must name loopback or
 * an allowed host: a browser on a rebound name sends that name. An Origin, when present, must be the same
 * host: a page elsewhere must not drive the admin surface through the operator's browser.
 */
function checkHostAndOrigin(request: PlainHttpRequest, allowed: ReadonlySet<string>): string | undefined {
  if (allowed.has("*")) return undefined;
  const hostHeader = request.headers.host;
  // No Host at all (an HTTP/1.0 client, a hand-made request) is no browser on a rebound name.
  const host = hostHeader === undefined ? undefined : hostName(hostHeader);
  if (hostHeader !== undefined && (host === undefined || !(isLoopbackName(host) || allowed.has(host))))
    return "the admin endpoints answer requests for loopback host names only (see allowedHosts)";
  const origin = request.headers.origin;
  if (origin === undefined) return undefined;
  const originHost = hostName(origin.replace(/^[a-z][a-z0-9+.-]*:\/\//i, ""));
  if (originHost === undefined || (host === undefined ? !isLoopbackName(originHost) : originHost !== host))
    return "cross-origin requests are refused";
  return undefined;
}

/** The host name of a Host header, lower-case, without port; IPv6 literals keep their brackets. */
function hostName(header: string): string | undefined {
  if (header === "" || /[/?#@\\]/.test(header)) return undefined;
  try {
    return new URL(`http://${header}`).hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

function isLoopbackName(host: string): boolean {
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  if (host === "[::1]") return true;
  return isIP(host) === 4 && host.startsWith("127.");
}

function statusName(status: ServingStatus | undefined): string {
  return servingStatusName(status ?? ServingStatus.ServiceUnknown);
}

function reasonOf(body: Record<string, unknown>, fallback: string): string {
  return typeof body.reason === "string" && body.reason !== "" ? body.reason.slice(0, 300) : fallback;
}

type BodyResult = { ok: true; value: Record<string, unknown> } | { ok: false; response: PlainHttpResponse };

/** The parsed JSON object (an empty body reads as `{}`), or the error response to send instead. */
function readJsonBody(request: PlainHttpRequest, maxBytes: number): BodyResult {
  const fail = (status: number, message: string): BodyResult => ({
    ok: false,
    response: error(status, message),
  });
  const type = request.headers["content-type"]?.split(";")[0]?.trim().toLowerCase();
  if (type !== "application/json") return fail(415, "send the body as application/json");
  if (request.body.byteLength > maxBytes) return fail(413, `the body is over ${maxBytes} bytes`);
  if (request.body.byteLength === 0) return { ok: true, value: {} };
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(request.body).toString("utf8"));
  } catch {
    return fail(400, "the body is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    return fail(400, "the body must be a JSON object");
  return { ok: true, value: value as Record<string, unknown> };
}

function asset(type: string, body: string): PlainHttpResponse {
  return { status: 200, headers: { ...pageSecurityHeaders, "content-type": type }, body };
}

function ok(value: object): PlainHttpResponse {
  return { status: 200, headers: { ...jsonHeaders }, body: JSON.stringify(value) };
}

function error(status: number, message: string): PlainHttpResponse {
  return { status, headers: { ...jsonHeaders }, body: JSON.stringify({ error: message }) };
}

/** True for 127.0.0.0/8, ::1 and their IPv4-mapped forms. Unknown addresses are not loopback. @internal */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const plain = address.startsWith("::ffff:") ? address.slice(7) : address;
  if (isIP(plain) === 4) return plain.startsWith("127.");
  return plain === "::1" || plain === "0:0:0:0:0:0:0:1";
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

// Compared as digests, so neither the length nor the content leaks through timing.
function bearerMatches(request: PlainHttpRequest, expected: Buffer): boolean {
  const header = request.headers.authorization;
  const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  const token = match?.[1];
  return token !== undefined && timingSafeEqual(digest(token), expected);
}
