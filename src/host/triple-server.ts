import { ServingStatus } from "../codec/health-types.ts";
import type { HealthServiceOptions } from "../health/health-service.ts";
import { HealthRegistry } from "../health/registry.ts";
import { serviceKey } from "../health/service-key.ts";
import type { ConnectionOptions, Http1Options, Http2Options } from "../server/options.ts";
import type { TlsOptions } from "../server/port-listener.ts";
import type { ServiceExport } from "../server/router.ts";
import { RpcHandler, type RpcHandlerOptions } from "../server/rpc-handler.ts";
import type { ServiceMethods } from "../server/service-types.ts";
import { HostBase, type PortListeners } from "./host-base.ts";

/** Options of {@link createTripleServer}. */
export interface TripleServerOptions extends Omit<RpcHandlerOptions, "answerUnknownPaths"> {
  /** Serve TLS (ALPN `h2` and `http/1.1`) instead of plaintext h2c + HTTP/1.1. */
  tls?: TlsOptions;
  /** HTTP/2 settings; see {@link Http2Options} for the defaults. */
  http2?: Http2Options;
  /** HTTP/1.1 timeouts; see {@link Http1Options} for the defaults. */
  http1?: Http1Options;
  /** Connection cap and first-request timeout; see {@link ConnectionOptions} for the defaults. */
  connections?: ConnectionOptions;
  /** The registry health answers from; a new one by default. */
  health?: HealthRegistry;
  /** Options of the hosted `grpc.health.v1.Health` service, or false not to host it. */
  healthService?: HealthServiceOptions | false;
}

/**
 * A server for gRPC, gRPC-Web, triple and Connect on one port, hosting `grpc.health.v1.Health`.
 *
 * Every service added is SERVING in `health` while the server listens, and so is the server as a
 * whole (`""`); an export with a Dubbo group or version is SERVING under its service key too
 * (`g1/greet.GreetService:1.0.0`, what dubbo-go consumers Watch). `close()` turns everything
 * NOT_SERVING, lets Watch streams see it, sends GOAWAY, waits for in-flight calls up to the grace
 * period, then closes. While draining or closing, answers carry dubbo-go's `closing: true` trailer.
 */
export class TripleServer extends HostBase {
  /** Serves the RPCs; add services with {@link TripleServer.addService}, so that health knows them. */
  readonly handler: RpcHandler;

  constructor(options: TripleServerOptions = {}) {
    const health = options.health ?? new HealthRegistry();
    const closing = options.closing;
    const handler = new RpcHandler({
      ...options,
      answerUnknownPaths: true,
      // close() begins with health.shutdown(), so `draining` covers both drain and close.
      closing: closing === undefined ? () => health.draining : () => health.draining || closing(),
    });
    super({
      noun: "server",
      transport: options,
      health,
      handler,
      healthService: options.healthService ?? {},
    });
    this.handler = handler;
  }

  /**
   * Adds a service, or one more export of it under a Dubbo `group` and/or `version` (see
   * {@link RpcHandler.addService} for how calls pick one). While the server listens, `health` has it
   * SERVING under its name and, for an export with a group or version, under its service key as well
   * (`g1/greet.GreetService:1.0.0`; version `0.0.0` counts as none), as dubbo-go registers it.
   */
  addService(name: string, methods: ServiceMethods, options?: ServiceExport): this {
    this.handler.addService(name, methods, options);
    if (this.open) {
      this.health.set(name, ServingStatus.Serving, "service added");
      const key = serviceKey(name, options?.group, options?.version);
      if (key !== name) this.health.set(key, ServingStatus.Serving, "service added");
    }
    return this;
  }

  protected override listeners(): PortListeners {
    return { onStream: this.handler.handleStream, onRequest: this.handler.handleRequest };
  }

  protected override onListening(): void {
    for (const service of this.handler.services)
      this.health.set(service, ServingStatus.Serving, "server listening");
    for (const { service, group, version } of this.handler.exports) {
      const key = serviceKey(service, group, version);
      if (key !== service) this.health.set(key, ServingStatus.Serving, "server listening");
    }
    this.health.set("", ServingStatus.Serving, "server listening");
  }
}

/** A new {@link TripleServer}. */
export function createTripleServer(options?: TripleServerOptions): TripleServer {
  return new TripleServer(options);
}
