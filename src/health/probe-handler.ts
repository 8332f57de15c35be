import { ServingStatus, servingStatusName } from "../codec/health-types.ts";
import type { PlainHttpHandler, PlainHttpResponse } from "../server/service-types.ts";
import type { HealthRegistry } from "./registry.ts";

/** Options of {@link createProbeHandler}: where the liveness and readiness endpoints are. */
export interface ProbeHandlerOptions {
  /** Default {@link defaultLivePath}. */
  livePath?: string;
  /** Default {@link defaultReadyPath}. */
  readyPath?: string;
}

/** Default {@link ProbeHandlerOptions.livePath}; a proxy never forwards it (src/proxy/local-paths.ts). */
export const defaultLivePath = "/livez";
/** Default {@link ProbeHandlerOptions.readyPath}; a proxy never forwards it either. */
export const defaultReadyPath = "/readyz";

const jsonHeaders = { "content-type": "application/json", "cache-control": "no-store" } as const;

/**
 * HTTP probes for Kubernetes `httpGet` and plain load balancers, as a {@link PlainHttpHandler}:
 *
 * - `GET /livez` → 200 `{"status":"ok"}` whenever the process answers at all (a drained or failing
 *   server is still alive: restarting it would not help).
 * - `GET /readyz` → 200 `{"status":"SERVING"}` when the overall `""` status is SERVING, else 503 with
 *   the status; `/readyz?service=NAME` asks about one service (404 `SERVICE_UNKNOWN` if unregistered).
 *
 * HEAD is answered like GET without a body; other methods get 405. Other paths are left to the next handler.
 */
export function createProbeHandler(
  registry: HealthRegistry,
  options: ProbeHandlerOptions = {},
): PlainHttpHandler {
  const livePath = options.livePath ?? defaultLivePath;
  const readyPath = options.readyPath ?? defaultReadyPath;
  return (request) => {
    if (request.path !== livePath && request.path !== readyPath) return undefined;
    const head = request.method === "HEAD";
    if (request.method !== "GET" && !head)
      return {
        status: 405,
        headers: { ...jsonHeaders, allow: "GET, HEAD" },
        body: '{"error":"method not allowed"}',
      };
    const reply = (status: number, body: object): PlainHttpResponse =>
      head
        ? { status, headers: { ...jsonHeaders } }
        : { status, headers: { ...jsonHeaders }, body: JSON.stringify(body) };
    if (request.path === livePath) return reply(200, { status: "ok" });
    const service = request.query.get("service") ?? "";
    const status = registry.get(service);
    if (status === undefined) return reply(404, { status: servingStatusName(ServingStatus.ServiceUnknown) });
    return reply(status === ServingStatus.Serving ? 200 : 503, { status: servingStatusName(status) });
  };
}
