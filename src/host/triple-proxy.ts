import type http from "node:http";
import type http2 from "node:http2";
import {
  createEndpointPicker,
  type EndpointPicker,
  type EndpointPickerOptions,
} from "../client/endpoint-picker.ts";
import type { EndpointSource } from "../client/endpoint-source.ts";
import { ServingStatus } from "../codec/health-types.ts";
import type { HealthServiceOptions } from "../health/health-service.ts";
import { HealthRegistry } from "../health/registry.ts";
import {
  emptyProxyStats,
  type ForwardContext,
  ForwardedCall,
  type ProxyStats,
} from "../proxy/forwarded-call.ts";
import { defaultLocalPaths, localPathMatcher, refuseLocalPath } from "../proxy/local-paths.ts";
import { type UpstreamConnectionOptions, UpstreamSessions } from "../proxy/upstream-sessions.ts";
import { H1Exchange } from "../server/h1-exchange.ts";
import { H2Exchange } from "../server/h2-exchange.ts";
import type { ConnectionOptions, Http1Options, Http2Options } from "../server/options.ts";
import type { TlsOptions } from "../server/port-listener.ts";
import { RpcHandler } from "../server/rpc-handler.ts";
import { ConfigError } from "../wire/config-error.ts";
import { HostBase, type PortListeners } from "./host-base.ts";

/** Options of {@link createTripleProxy}. */
export interface TripleProxyOptions {
  /**
   * Upstream servers: `http://host:port`, `host:port`, `tri://host:port`, `https://host:port`. Give
   * this or `discovery`.
   */
  upstreams?: readonly string[];
  /**
   * Upstreams that change (a registry's providers of `service`, e.g. a `ProviderDiscovery`): routed to
   * as they come and go. The proxy does not close the source. Give this or `upstreams`.
   */
  discovery?: EndpointSource;
  /** Dubbo group of `service`: upstreams are watched under the service key `group/service:version`. */
  group?: string;
  /** Dubbo version of `service` (see `group`). */
  version?: string;
  /**
   * The service the upstreams serve: watched on each (`grpc.health.v1.Health/Watch`) to route, and
   * reported by the proxy's own health. `""` (default) watches each upstream as a whole.
   */
  service?: string;
  /** Picker settings (policy, panic threshold, health mode, backoff, outlier ejection…). */
  picker?: Omit<EndpointPickerOptions, "endpoints" | "discovery" | "service" | "group" | "version">;
  /** The registry the proxy's own `grpc.health.v1.Health` answers from; a new one by default. */
  health?: HealthRegistry;
  /** Options of the proxy's health service. */
  healthService?: HealthServiceOptions;
  /**
   * How long `close()` stays up NOT_SERVING before GOAWAY, ms, so a poller of Check (HAProxy, kubelet)
   * sees NOT_SERVING before the port closes. Default 0.
   */
  drainDelayMs?: number;
  /** Connections to the upstreams. */
  upstream?: UpstreamConnectionOptions;
  /** Serve TLS (ALPN h2 and http/1.1) to callers instead of plaintext h2c + HTTP/1.1. */
  tls?: TlsOptions;
  /** HTTP/2 settings and limits of the callers' side. */
  http2?: Http2Options;
  /** HTTP/1.1 timeouts and limits of the callers' side. */
  http1?: Http1Options;
  /** Connection cap and first-request timeout; see {@link ConnectionOptions} for the defaults. */
  connections?: ConnectionOptions;
  /**
   * Most upstreams one call is tried on (only calls that never reached a server are retried, and with
   * `retryOnReset` those that got no response byte). Default 3.
   */
  maxAttempts?: number;
  /** Request bytes kept for such a retry; a call with a larger body is not retried. Default 64 KiB. */
  maxReplayBytes?: number;
  /**
   * Also retry (within `maxAttempts` and `maxReplayBytes`) a call whose upstream stream or connection failed
   * after the request was sent but before any response byte — an upstream crashing with calls in flight.
   * The server may have run such a call, so turn it on only when the methods are idempotent (Dubbo's
   * default failover cluster, Envoy's `retry_on: reset`). Default false.
   */
  retryOnReset?: boolean;
  /**
   * More paths the proxy answers 404 and never forwards (each with everything below it), besides the
   * upstreams' admin surface and probes at their default paths (`/admin`, `/livez`, `/readyz`, always
   * refused): an upstream's admin `prefix` or probe paths when you moved them. The upstreams' admin
   * surface trusts loopback callers, and forwarded calls come from the proxy's address.
   */
  localPaths?: readonly string[];
}

/**
 * A forwarding proxy for gRPC, gRPC-Web, triple and Connect calls (HTTP/2 and HTTP/1.1 in, HTTP/2 to
 * the upstreams): each call goes to a healthy upstream chosen by an {@link EndpointPicker}, bytes,
 * headers and trailers passed through without decoding. The proxy hosts its own
 * `grpc.health.v1.Health`: SERVING while at least one upstream is. With no routable upstream a call
 * gets UNAVAILABLE in its own protocol. The upstreams' admin surface and probes (`/admin`, `/livez`,
 * `/readyz`, plus `localPaths`) are answered 404 by the proxy and never forwarded. `close()` closes the picker and the upstream connections
 * last, once the callers' connections are gone.
 */
export class TripleProxy extends HostBase {
  /** Chooses the upstream of each call; its events tell which upstreams are routable and why. */
  readonly picker: EndpointPicker;
  /** The service watched on the upstreams and reported by the proxy's own health. */
  readonly service: string;
  /** Counters of calls forwarded, retried and refused since the proxy was created. */
  readonly stats: ProxyStats = emptyProxyStats();
  readonly #rpc: RpcHandler;
  readonly #ctx: ForwardContext;
  readonly #sessions: UpstreamSessions;
  readonly #isLocalPath: (target: string) => boolean;
  #serving: boolean | undefined;

  constructor(options: TripleProxyOptions) {
    const rpc = new RpcHandler({ answerUnknownPaths: false });
    super({
      noun: "proxy",
      transport: options,
      health: options.health ?? new HealthRegistry(),
      handler: rpc,
      healthService: options.healthService ?? {},
      drainDelayMs: options.drainDelayMs,
    });
    this.#rpc = rpc;
    this.#isLocalPath = localPathMatcher([...defaultLocalPaths, ...(options.localPaths ?? [])]);
    this.service = options.service ?? "";
    this.#sessions = new UpstreamSessions(options.upstreams ?? [], options.upstream);
    this.picker = createEndpointPicker({
      ...options.picker,
      endpoints: options.upstreams,
      discovery: options.discovery,
      service: this.service,
      group: options.group,
      version: options.version,
    });
    // An upstream gone from the registry: its connection closes once its calls in flight finish.
    this.picker.on((event) => {
      if (event.type === "removed") this.#sessions.release(event.endpoint);
    });
    const maxAttempts = options.maxAttempts ?? 3;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1)
      throw new ConfigError("maxAttempts must be a whole number >= 1");
    this.#ctx = {
      picker: this.picker,
      sessions: this.#sessions,
      maxAttempts,
      maxReplayBytes: options.maxReplayBytes ?? 64 * 1024,
      retryOnReset: options.retryOnReset ?? false,
      stats: this.stats,
      inFlight: new Set(),
    };
    this.#updateHealth();
    this.picker.on(() => this.#updateHealth());
  }

  /** Calls being forwarded now. */
  get inFlight(): number {
    return this.#ctx.inFlight.size;
  }

  protected override listeners(): PortListeners {
    return { onStream: this.#onStream, onRequest: this.#onRequest };
  }

  readonly #onStream = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void => {
    if (this.#rpc.handleStream(stream, headers)) return;
    const exchange = new H2Exchange(stream, headers, undefined);
    if (this.#isLocalPath(exchange.url)) refuseLocalPath(exchange);
    else new ForwardedCall(this.#ctx, exchange).start();
  };

  readonly #onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (this.#rpc.handleRequest(req, res)) return;
    const exchange = new H1Exchange(req, res);
    if (this.#isLocalPath(exchange.url)) refuseLocalPath(exchange);
    else new ForwardedCall(this.#ctx, exchange).start();
  };

  #updateHealth(): void {
    if (this.closed) return;
    const serving = this.picker.healthyCount > 0;
    if (serving === this.#serving) return;
    this.#serving = serving;
    const status = serving ? ServingStatus.Serving : ServingStatus.NotServing;
    const reason = serving
      ? `${this.picker.healthyCount} of ${this.picker.endpoints.length} upstreams serving`
      : "no upstream serving";
    this.health.set("", status, reason);
    if (this.service !== "") this.health.set(this.service, status, reason);
  }

  // Once the callers' connections are gone: nothing is forwarded any more.
  protected override async onClosed(): Promise<void> {
    await this.picker.close();
    await this.#sessions.close(0);
  }
}

/** A new {@link TripleProxy}; call `listen()` to start it. */
export function createTripleProxy(options: TripleProxyOptions): TripleProxy {
  return new TripleProxy(options);
}
