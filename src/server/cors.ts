import type { IncomingHeaders } from "../protocol/request-head.ts";
import type { OutgoingHeaders } from "../protocol/response-sink.ts";
import type { Exchange } from "./exchange.ts";

/** CORS for browser clients (gRPC-Web, Connect from a web page). */
export interface CorsOptions {
  /** Origins allowed: `"*"` (default), a list, or a predicate. */
  allowedOrigins?: "*" | readonly string[] | ((origin: string) => boolean);
  /** Preflight cache lifetime, seconds. Default 7200 (the cap Chromium applies). */
  maxAgeSeconds?: number;
  /** Extra request headers to allow beyond the protocol ones and those the preflight asks for. */
  allowedHeaders?: readonly string[];
  /** Extra response headers to expose beyond the protocol ones. */
  exposedHeaders?: readonly string[];
}

const protocolRequestHeaders = [
  "content-type",
  "x-grpc-web",
  "x-user-agent",
  "grpc-timeout",
  "grpc-encoding",
  "grpc-accept-encoding",
  "connect-protocol-version",
  "connect-timeout-ms",
  "connect-content-encoding",
  "connect-accept-encoding",
  "tri-protocol-version",
  "tri-service-timeout",
  "tri-service-group",
  "tri-service-version",
  "triple-protocol-version",
  "triple-timeout-ms",
];

const protocolResponseHeaders = [
  "grpc-status",
  "grpc-message",
  "grpc-status-details-bin",
  "grpc-encoding",
  "grpc-accept-encoding",
  "connect-content-encoding",
  "connect-accept-encoding",
];

/** Resolved CORS settings. @internal */
export class Cors {
  readonly #allowed: (origin: string) => boolean;
  readonly #maxAge: string;
  readonly #allowHeaders: string;
  readonly #exposeHeaders: string;

  constructor(options: CorsOptions = {}) {
    const origins = options.allowedOrigins ?? "*";
    if (origins === "*") this.#allowed = () => true;
    else if (typeof origins === "function") this.#allowed = origins;
    else {
      const set = new Set(origins);
      this.#allowed = (origin) => set.has(origin);
    }
    this.#maxAge = String(options.maxAgeSeconds ?? 7200);
    this.#allowHeaders = [...protocolRequestHeaders, ...(options.allowedHeaders ?? [])].join(", ");
    this.#exposeHeaders = [...protocolResponseHeaders, ...(options.exposedHeaders ?? [])].join(", ");
  }

  /** The request's origin when it is allowed, else undefined. */
  origin(headers: IncomingHeaders): string | undefined {
    const origin = headers.origin;
    return typeof origin === "string" && this.#allowed(origin) ? origin : undefined;
  }

  /** True for a preflight request (OPTIONS with Access-Control-Request-Method). */
  isPreflight(method: string, headers: IncomingHeaders): boolean {
    return method === "OPTIONS" && headers["access-control-request-method"] !== undefined;
  }

  /** Answers a preflight: 204 with the allowed methods and headers, or 403 for an origin not allowed. */
  preflight(exchange: Exchange): void {
    const origin = this.origin(exchange.headers);
    if (origin === undefined) {
      exchange.respond(403, { "content-type": "text/plain" }, Buffer.from("origin not allowed\n"), undefined);
      return;
    }
    const requested = exchange.headers["access-control-request-headers"];
    const allowHeaders =
      typeof requested === "string" && requested !== ""
        ? `${this.#allowHeaders}, ${requested}`
        : this.#allowHeaders;
    exchange.respond(
      204,
      {
        "access-control-allow-origin": origin,
        "access-control-allow-methods": "POST",
        "access-control-allow-headers": allowHeaders,
        "access-control-max-age": this.#maxAge,
        vary: "Origin",
      },
      undefined,
      undefined,
    );
  }

  /** The headers every response to an allowed cross-origin request carries. */
  responseHeaders(origin: string): OutgoingHeaders {
    return {
      "access-control-allow-origin": origin,
      "access-control-expose-headers": this.#exposeHeaders,
      vary: "Origin",
    };
  }
}
