import { expositionContentType, negotiateExposition, renderMetrics } from "../metrics/exposition.ts";
import type { MetricRegistry } from "../metrics/metric-registry.ts";
import type { PlainHttpHandler, PlainHttpRequest, PlainHttpResponse } from "./service-types.ts";

/** The path Prometheus scrapes by default. */
export const defaultMetricsPath = "/metrics";

/**
 * Answers `GET /metrics` (`HEAD` too) with the exposition of `metrics`: Prometheus text 0.0.4, or
 * OpenMetrics 1.0 when the scraper's `Accept` asks for it; other methods get 405. Whoever mounts it decides
 * who may ask (the admin handler guards it like its own endpoints).
 */
export function createMetricsHandler(metrics: MetricRegistry, path = defaultMetricsPath): PlainHttpHandler {
  return (request) => (request.path === path ? answerMetrics(metrics, request) : undefined);
}

/** The exposition answer to `request` (already known to be for the metrics path). @internal */
export function answerMetrics(metrics: MetricRegistry, request: PlainHttpRequest): PlainHttpResponse {
  if (request.method !== "GET" && request.method !== "HEAD")
    return {
      status: 405,
      headers: { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" },
      body: "use GET\n",
    };
  const format = negotiateExposition(request.headers.accept);
  const body = renderMetrics(metrics, format);
  return {
    status: 200,
    headers: { "content-type": expositionContentType[format], "cache-control": "no-store" },
    body: request.method === "HEAD" ? "" : body,
  };
}
