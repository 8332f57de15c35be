import type http from "node:http";
import type http2 from "node:http2";
import type { MetricRegistry } from "../metrics/metric-registry.ts";
import { acceptPost, acceptPostStreaming, parseContentType } from "../protocol/content-type.ts";
import { writerFor } from "../protocol/negotiate.ts";
import { headerValue } from "../protocol/request-head.ts";
import { Code } from "../wire/code.ts";
import { ConfigError } from "../wire/config-error.ts";
import { defaultMaxMessageBytes } from "../wire/envelope.ts";
import { defaultMaxMetadataBytes } from "../wire/metadata.ts";
import { RpcError } from "../wire/rpc-error.ts";
import { CallMetrics, RouteCallMetrics } from "./call-metrics.ts";
import { Cors, type CorsOptions } from "./cors.ts";
import type { Exchange } from "./exchange.ts";
import { H1Exchange } from "./h1-exchange.ts";
import { H2Exchange } from "./h2-exchange.ts";
import { answerPlainHttp } from "./plain-http.ts";
import { type ExportInfo, type PathEntry, Router, type ServiceExport, selectRoute } from "./router.ts";
import { type CallLimits, type CallOwner, ServerCall, type TrackedStream } from "./server-call.ts";
import type { PlainHttpHandler, ServiceMethods } from "./service-types.ts";

/** Options of {@link createRpcHandler}. */
export interface RpcHandlerOptions {
  /** Largest request message, after decompression. Default 4 MiB (gRPC's default); above it RESOURCE_EXHAUSTED. */
  maxMessageBytes?: number;
  /** Largest user metadata (HPACK-style size). Default 16 KiB; above it RESOURCE_EXHAUSTED. */
  maxMetadataBytes?: number;
  /** Answer CORS preflights and add CORS headers for browsers. Off by default; `true` allows every origin. */
  cors?: boolean | CorsOptions;
  /**
   * Answer every request, also for paths no service claims (405, 415, UNIMPLEMENTED, plain handlers).
   * Off by default for an embedded handler: unknown paths are left to the application.
   */
  answerUnknownPaths?: boolean;
  /** Plain HTTP handlers (admin, /livez) tried for paths no service claims; only with `answerUnknownPaths`. */
  plainHttpHandlers?: readonly PlainHttpHandler[];
  /**
   * Asked as each call is answered: while it returns true, the trailers carry `closing: true`, the
   * attachment dubbo-go's graceful-shutdown filter adds while its provider closes (its consumers then
   * stop picking this provider). `createTripleServer` already answers so while its health drains or
   * it closes (a `closing` given to it adds to that); embedded, pass e.g. `() => health.draining`.
   * Default: never.
   */
  closing?: () => boolean;
  /**
   * Where to count calls (`triple_health_server_calls_total`, `triple_health_server_call_duration_seconds`,
   * labelled by the routes' names; calls to unknown paths count as service and method `other`). Off by default.
   */
  metrics?: MetricRegistry;
}

const methodNotAllowedHeaders = Object.freeze({ allow: "POST", "content-type": "text/plain; charset=utf-8" });
// A 415 lists what would have been taken in `Accept-Post`, as connect-go and dubbo-go answer.
const unsupportedMediaHeaders = Object.freeze({
  "content-type": "text/plain; charset=utf-8",
  "accept-post": acceptPost,
});
const unaryToStreamingHeaders = Object.freeze({
  "content-type": "text/plain; charset=utf-8",
  "accept-post": acceptPostStreaming,
});
const methodNotAllowedBody = Buffer.from("method not allowed: RPCs are POST requests\n");
const unsupportedMediaBody = Buffer.from(
  "unsupported content-type: use application/grpc, application/grpc-web, application/json, application/proto or application/connect+proto/json\n",
);

/**
 * Serves RPCs on `node:http2` streams and `node:http` requests: content-type negotiation, routing
 * to the added services, the protocol's way of answering. Embeddable: pass `handleStream` to an
 * HTTP/2 server's `stream` event and call `handleRequest` from an HTTP/1.1 request listener.
 */
export class RpcHandler implements CallOwner {
  readonly #router = new Router();
  readonly #streams = new Set<TrackedStream>();
  readonly #limits: CallLimits;
  readonly #cors: Cors | undefined;
  readonly #answerAll: boolean;
  readonly #plain: readonly PlainHttpHandler[];
  readonly #closing: (() => boolean) | undefined;
  readonly #metrics: CallMetrics | undefined;

  constructor(options: RpcHandlerOptions = {}) {
    const maxMessageBytes = options.maxMessageBytes ?? defaultMaxMessageBytes;
    if (!Number.isInteger(maxMessageBytes) || maxMessageBytes < 0) {
      throw new ConfigError("maxMessageBytes must be a non-negative integer");
    }
    this.#limits = Object.freeze({
      maxMessageBytes,
      maxMetadataBytes: options.maxMetadataBytes ?? defaultMaxMetadataBytes,
    });
    this.#cors =
      options.cors === undefined || options.cors === false
        ? undefined
        : new Cors(options.cors === true ? {} : options.cors);
    this.#answerAll = options.answerUnknownPaths ?? false;
    this.#plain = options.plainHttpHandlers ?? [];
    this.#closing = options.closing;
    this.#metrics = options.metrics === undefined ? undefined : new CallMetrics(options.metrics);
  }

  /**
   * Adds a service: its methods are served at `/{name}/{method}` (also with the method's first letter
   * lower-cased, as dubbo-go serves Java callers). With a Dubbo `group` and/or `version` this is one
   * export among others of the same name: calls pick it by `tri-service-group`/`tri-service-version`
   * (exactly; no header is the export added without them), and a group or version no export has is
   * UNIMPLEMENTED. A name added only without group and version ignores those headers, as before.
   */
  addService(name: string, methods: ServiceMethods, options?: ServiceExport): this {
    this.#router.add(name, methods, options);
    return this;
  }

  /** Names of the services added, in order (each once, whatever its exports). */
  get services(): string[] {
    return this.#router.services;
  }

  /** Every export added: each service name with its group and version (`""` for none), in order. */
  get exports(): ExportInfo[] {
    return this.#router.exports;
  }

  /** The method names of one export, as a registry lists them (`methods=`). */
  methodNames(info: ExportInfo): string[] {
    return this.#router.methodNames(info);
  }

  /** True while the `closing` option says so: calls answered now carry `closing: true`. @internal */
  get closing(): boolean {
    return this.#closing?.() === true;
  }

  /** Server streams in flight. */
  get activeStreams(): number {
    return this.#streams.size;
  }

  /**
   * For an HTTP/2 server's `stream` event. Returns false, leaving the stream untouched, when the
   * path is no method of this handler (and `answerUnknownPaths` is off). The event's raw header list
   * (its fourth argument) is optional; with it the request head is read a little faster.
   */
  readonly handleStream = (
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    _flags?: number,
    rawHeaders?: string[],
  ): boolean => {
    const entry = this.#router.find(headers[":path"] ?? "");
    if (entry === undefined && !this.#answerAll) return false;
    this.#dispatch(new H2Exchange(stream, headers, rawHeaders), entry);
    return true;
  };

  /**
   * For an HTTP/1.1 request listener (also an HTTP/2 compatibility-API request, whose stream is then
   * served directly). Returns false, leaving the request untouched, when the path is no method of this
   * handler (and `answerUnknownPaths` is off).
   */
  readonly handleRequest = (
    req: http.IncomingMessage | http2.Http2ServerRequest,
    res: http.ServerResponse | http2.Http2ServerResponse,
  ): boolean => {
    const entry = this.#router.find(req.url ?? "");
    if (entry === undefined && !this.#answerAll) return false;
    if ("stream" in req) {
      // The compatibility response would send its own (empty) trailers: we answer on the stream.
      req.stream.removeAllListeners("wantTrailers");
      this.#dispatch(new H2Exchange(req.stream, req.headers, req.rawHeaders), entry);
    } else {
      this.#dispatch(new H1Exchange(req, res as http.ServerResponse), entry);
    }
    return true;
  };

  /** Ends every server stream in flight with `error` (a closing server ends Watch streams this way). */
  endStreams(error: RpcError): void {
    for (const call of [...this.#streams]) call.fail(error);
  }

  /** @internal */
  trackStream(call: TrackedStream): void {
    this.#streams.add(call);
  }
  /** @internal */
  untrackStream(call: TrackedStream): void {
    this.#streams.delete(call);
  }

  // `entry` is the lookup of `exchange.url` the caller already made; undefined when no service has the path.
  #dispatch(exchange: Exchange, entry: PathEntry | undefined): void {
    const cors = this.#cors;
    if (cors !== undefined) {
      if (cors.isPreflight(exchange.method, exchange.headers)) {
        cors.preflight(exchange);
        return;
      }
      const origin = cors.origin(exchange.headers);
      if (origin !== undefined) exchange.extraHeaders = cors.responseHeaders(origin);
    }
    if (entry === undefined && this.#plain.length > 0) {
      answerPlainHttp(exchange, this.#plain, this.#limits.maxMessageBytes, (unclaimed) =>
        this.#refuse(unclaimed),
      );
      return;
    }
    if (exchange.method !== "POST") {
      exchange.respond(405, methodNotAllowedHeaders, methodNotAllowedBody, undefined);
      return;
    }
    // A service without group/version exports costs nothing more here: the headers are not read.
    const route = entry === undefined ? undefined : selectRoute(entry, exchange.headers);
    const type = parseContentType(exchange.headers["content-type"] as string | undefined);
    if (type === undefined) {
      exchange.respond(415, unsupportedMediaHeaders, unsupportedMediaBody, undefined);
      return;
    }
    if (route !== undefined && route.definition.kind !== "unary" && !type.enveloped) {
      exchange.respond(415, unaryToStreamingHeaders, unsupportedMediaBody, undefined);
      return;
    }
    const writer = writerFor(type);
    const metrics = this.#metrics;
    if (route === undefined) {
      const error = new RpcError(Code.Unimplemented, this.#describeMiss(exchange));
      writer.writeError(exchange, type, error, undefined, undefined);
      metrics?.unrouted.record(type.protocol, Code.Unimplemented, 0);
      return;
    }
    if (metrics !== undefined && route.metrics === undefined)
      route.metrics = new RouteCallMetrics(metrics, route.service, route.method);
    new ServerCall(exchange, type, writer, route, this.#limits, this).start();
  }

  // A request no plain handler claimed gets the RPC answer: 405, 415 or UNIMPLEMENTED.
  #refuse(exchange: Exchange): void {
    if (exchange.method !== "POST") {
      exchange.respond(405, methodNotAllowedHeaders, methodNotAllowedBody, undefined);
      return;
    }
    const type = parseContentType(exchange.headers["content-type"] as string | undefined);
    if (type === undefined) {
      exchange.respond(415, unsupportedMediaHeaders, unsupportedMediaBody, undefined);
      return;
    }
    const error = new RpcError(Code.Unimplemented, this.#describeMiss(exchange));
    writerFor(type).writeError(exchange, type, error, undefined, undefined);
    this.#metrics?.unrouted.record(type.protocol, Code.Unimplemented, 0);
  }

  #describeMiss(exchange: Exchange): string {
    const headers = exchange.headers;
    return this.#router.describeMiss(
      exchange.url,
      headerValue(headers, "tri-service-group"),
      headerValue(headers, "tri-service-version"),
    );
  }
}

/**
 * An embeddable RPC handler for a `node:http2` or `node:http` server the application already runs:
 * `h2server.on("stream", (s, h) => handler.handleStream(s, h) || myOwn(s, h))`,
 * `http.createServer((req, res) => handler.handleRequest(req, res) || myOwn(req, res))`.
 */
export function createRpcHandler(options?: RpcHandlerOptions): RpcHandler {
  return new RpcHandler(options);
}
