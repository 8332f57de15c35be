import type net from "node:net";
import { healthServiceName, ServingStatus } from "../codec/health-types.ts";
import { createHealthService, type HealthServiceOptions } from "../health/health-service.ts";
import { HealthRegistry } from "../health/registry.ts";
import { Code } from "../wire/code.ts";
import { RpcError } from "../wire/rpc-error.ts";
import { type ConnectionOptions, defaultGraceMs, type Http1Options, type Http2Options } from "./options.ts";
import { PortListener, type TlsOptions } from "./port-listener.ts";
import { RpcHandler, type RpcHandlerOptions } from "./rpc-handler.ts";
import type { ServiceMethods } from "./service-types.ts";

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

/** Options of {@link TripleServer.close}. */
export interface CloseOptions {
  /** How long in-flight calls may run on after GOAWAY, ms; then connections are destroyed. Default 5000. */
  graceMs?: number;
}

/**
 * A server for gRPC, gRPC-Web, triple and Connect on one port, hosting `grpc.health.v1.Health`.
 *
 * Every service added is SERVING in `health` while the server listens, and so is the server as a
 * whole (`""`). `close()` turns everything NOT_SERVING, lets Watch streams see it, sends GOAWAY,
 * waits for in-flight calls up to the grace period, then closes.
 */
export class TripleServer {
  readonly health: HealthRegistry;
  readonly handler: RpcHandler;
  readonly #options: TripleServerOptions;
  #listener: PortListener | undefined;
  #address: { port: number; host: string } | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: TripleServerOptions = {}) {
    this.#options = options;
    this.health = options.health ?? new HealthRegistry();
    this.handler = new RpcHandler({ ...options, answerUnknownPaths: true });
    this.handler.onServiceAdded = (name) => {
      if (this.#listener !== undefined && this.#closing === undefined)
        this.health.set(name, ServingStatus.Serving, "service added");
    };
    if (options.healthService !== false) {
      this.handler.addService(
        healthServiceName,
        createHealthService(this.health, options.healthService || {}),
      );
    }
  }

  /** Adds a service; it is SERVING in `health` while the server listens. */
  addService(name: string, methods: ServiceMethods): this {
    this.handler.addService(name, methods);
    return this;
  }

  /** The bound port (0 before `listen()`). */
  get port(): number {
    return this.#address?.port ?? 0;
  }

  /**
   * Open connections (TCP or TLS, any protocol), 0 before `listen()` and after `close()`. For
   * monitoring and leak checks. (hardening H7)
   */
  get connections(): number {
    return this.#listener?.sockets.size ?? 0;
  }

  /** The bound address, once listening. */
  get address(): { port: number; host: string } | undefined {
    return this.#address;
  }

  /** Starts listening: port 0 picks a free one; the host defaults to 127.0.0.1. */
  async listen(port = 0, host = "127.0.0.1"): Promise<{ port: number; host: string }> {
    if (this.#listener !== undefined) throw new Error("the server is already listening");
    if (this.#closing !== undefined) throw new Error("the server is closed");
    const listener = new PortListener({
      tls: this.#options.tls,
      http2: this.#options.http2,
      http1: this.#options.http1,
      connections: this.#options.connections,
      onStream: this.handler.handleStream,
      onRequest: this.handler.handleRequest,
    });
    this.#listener = listener;
    let bound: net.AddressInfo;
    try {
      bound = await listener.listen(port, host);
    } catch (error) {
      this.#listener = undefined;
      throw error;
    }
    this.#address = { port: bound.port, host: bound.address };
    for (const service of this.handler.services)
      this.health.set(service, ServingStatus.Serving, "server listening");
    this.health.set("", ServingStatus.Serving, "server listening");
    return this.#address;
  }

  /**
   * Closes gracefully: every status NOT_SERVING (`health.shutdown()`), a moment for Watch streams to
   * send it, those streams ended with UNAVAILABLE, GOAWAY, in-flight calls given `graceMs`, then
   * whatever is left destroyed. Safe to call more than once.
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.#closing ??= this.#close(options.graceMs ?? defaultGraceMs);
    return this.#closing;
  }

  async #close(graceMs: number): Promise<void> {
    const listener = this.#listener;
    this.health.shutdown("server closing");
    if (listener === undefined) return;
    await listener.closeGracefully(graceMs, () =>
      this.handler.endStreams(new RpcError(Code.Unavailable, "the server is shutting down")),
    );
  }
}

/** A new {@link TripleServer}. */
export function createTripleServer(options?: TripleServerOptions): TripleServer {
  return new TripleServer(options);
}
