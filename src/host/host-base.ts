import type net from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import { healthServiceName } from "../codec/health-types.ts";
import {
  createHealthService,
  type HealthServiceOptions,
  watchersPerConnection,
} from "../health/health-service.ts";
import type { HealthRegistry } from "../health/registry.ts";
import {
  type ConnectionOptions,
  checkTransportTimeouts,
  type Http1Options,
  type Http2Options,
  http2Defaults,
} from "../server/options.ts";
import { PortListener, type PortListenerOptions, type TlsOptions } from "../server/port-listener.ts";
import type { RpcHandler } from "../server/rpc-handler.ts";
import { Code } from "../wire/code.ts";
import { ConfigError } from "../wire/config-error.ts";
import { RpcError } from "../wire/rpc-error.ts";

/** Options of {@link TripleServer.close} and {@link TripleProxy.close}. */
export interface CloseOptions {
  /** How long in-flight calls may run on after GOAWAY, ms; then connections are destroyed. Default 5000. */
  graceMs?: number;
  /**
   * How long to stay up after turning NOT_SERVING (and unregistering), before GOAWAY, ms: what pollers of
   * Check (HAProxy, kubelet) and registry consumers need to notice. Default: the host's `drainDelayMs`.
   */
  drainDelayMs?: number;
}

/** Default grace of `close()`, ms. */
export const defaultGraceMs = 5_000;

// Long enough for Watch streams to flush the NOT_SERVING message written on shutdown (a few event
// loop turns), or the UNAVAILABLE trailers written at the grace deadline, short enough not to matter.
const shutdownFlushMs = 20;

/** @internal What a host is made of; given by the subclass to {@link HostBase}. */
export interface HostParts {
  /** `server` or `proxy`: names the host in errors and in health reasons. */
  noun: string;
  /** The port's TLS and HTTP settings. */
  transport: {
    tls?: TlsOptions | undefined;
    http2?: Http2Options | undefined;
    http1?: Http1Options | undefined;
    connections?: ConnectionOptions | undefined;
  };
  health: HealthRegistry;
  /** Serves the host's `grpc.health.v1.Health`; its server streams are ended on close. */
  handler: RpcHandler;
  /** Options of the Health service, or false not to host one. */
  healthService: HealthServiceOptions | false;
  /** Default wait between NOT_SERVING and GOAWAY on close, ms (0: none). */
  drainDelayMs?: number | undefined;
}

/** @internal See {@link HostBase.portCounters}. */
export interface PortCounters {
  readonly connectionsRefused: number;
  readonly streamsRefused: number;
  readonly callsEndedOverBudget: number;
  readonly serverStreams: number;
}

/** @internal Where the port hands each HTTP/2 stream and HTTP/1.1 request. */
export type PortListeners = Pick<PortListenerOptions, "onStream" | "onRequest">;

/**
 * The lifecycle every host shares (undici's dispatcher-base is the model): one port, listened on
 * once; one graceful close, idempotent, that turns health NOT_SERVING, lets Watch streams carry it,
 * leaves GOAWAY and the grace period to the {@link PortListener}, and ends the streams still open at
 * its deadline with UNAVAILABLE.
 * Subclasses say where requests go ({@link listeners}) and may hook {@link onListening} and
 * {@link onClosed}.
 * @internal
 */
export abstract class HostBase {
  /** The registry the host's `grpc.health.v1.Health` answers from (drain it to take the host out of rotation). */
  readonly health: HealthRegistry;
  readonly #parts: HostParts;
  #listener: PortListener | undefined;
  #address: { port: number; host: string } | undefined;
  #closing: Promise<void> | undefined;

  protected constructor(parts: HostParts) {
    checkTransportTimeouts(parts.transport.http2, parts.transport.http1);
    const drainDelayMs = parts.drainDelayMs;
    if (
      drainDelayMs !== undefined &&
      (!Number.isFinite(drainDelayMs) || drainDelayMs < 0 || drainDelayMs > 3_600_000)
    )
      throw new ConfigError(`drainDelayMs must be 0 to 3600000 ms, got ${drainDelayMs}`);
    this.#parts = parts;
    this.health = parts.health;
    if (parts.healthService !== false) {
      const streams = parts.transport.http2?.maxConcurrentStreams ?? http2Defaults.maxConcurrentStreams;
      const maxWatchersPerConnection = watchersPerConnection(
        parts.healthService.maxWatchersPerConnection,
        streams,
      );
      parts.handler.addService(
        healthServiceName,
        createHealthService(parts.health, { ...parts.healthService, maxWatchersPerConnection }),
      );
    }
  }

  /** The bound port (0 before `listen()`). */
  get port(): number {
    return this.#address?.port ?? 0;
  }

  /** The bound address, once listening. */
  get address(): { port: number; host: string } | undefined {
    return this.#address;
  }

  /**
   * Open connections (TCP or TLS, any protocol), 0 before `listen()` and after `close()`. For
   * monitoring and leak checks. (hardening H7)
   */
  get connections(): number {
    return this.#listener?.sockets.size ?? 0;
  }

  /**
   * Bytes held on behalf of peers now — buffered request bytes and queued response bytes — as counted
   * against the byte budgets (`connections.maxConnectionBufferedBytes`, `maxProcessBufferedBytes`); 0
   * with both off. For monitoring and leak checks.
   */
  get bufferedBytes(): number {
    return this.#listener?.budget?.total ?? 0;
  }

  /**
   * The port's counters since it opened, for metrics: connections refused at the cap, HTTP/2 streams
   * refused and calls ended by the byte budgets, and the RPC server streams open now. @internal
   */
  get portCounters(): PortCounters {
    const listener = this.#listener;
    return {
      connectionsRefused: listener?.guard.refused ?? 0,
      streamsRefused: listener?.budget?.refused ?? 0,
      callsEndedOverBudget: listener?.budget?.ended ?? 0,
      serverStreams: this.#parts.handler.activeStreams,
    };
  }

  /** True from `listen()` until `close()`. */
  protected get open(): boolean {
    return this.#listener !== undefined && this.#closing === undefined;
  }

  /** True once `close()` was called. */
  protected get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** Starts listening: port 0 picks a free one; the host defaults to 127.0.0.1. */
  async listen(port = 0, host = "127.0.0.1"): Promise<{ port: number; host: string }> {
    const { noun, transport } = this.#parts;
    if (this.#listener !== undefined) throw new Error(`the ${noun} is already listening`);
    if (this.#closing !== undefined) throw new Error(`the ${noun} is closed`);
    const listener = new PortListener({
      tls: transport.tls,
      http2: transport.http2,
      http1: transport.http1,
      connections: transport.connections,
      ...this.listeners(),
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
    this.onListening();
    return this.#address;
  }

  /**
   * Closes gracefully: every status NOT_SERVING (`health.shutdown()`), a moment for Watch streams to
   * send it, GOAWAY, in-flight calls (Watch streams too) given `graceMs`; then the streams left end with
   * UNAVAILABLE and whatever is left is destroyed. Safe to call more than once.
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.#closing ??= this.#close(
      options.graceMs ?? defaultGraceMs,
      options.drainDelayMs ?? this.#parts.drainDelayMs ?? 0,
    );
    return this.#closing;
  }

  /**
   * Called first in `close()`, before anything turns NOT_SERVING: where a host unregisters from its
   * registries (Dubbo's order: consumers stop picking it before it refuses anything). Undefined when
   * there is nothing to wait for: health then turns NOT_SERVING within the `close()` call itself.
   */
  protected onClosing(): Promise<void> | undefined {
    return undefined;
  }

  /** Where the port hands requests; asked once, by `listen()`. */
  protected abstract listeners(): PortListeners;

  /** Called once bound, before `listen()` resolves. */
  protected onListening(): void {}

  /** Called last in `close()`, once every connection is gone (also when the host never listened). */
  protected async onClosed(): Promise<void> {}

  // Watch streams are not ended before GOAWAY (issue 14 item 4): grpc-go's health client re-opens an
  // ended Watch at once on the same connection when it had a message, so ending them first made every
  // client open Watch after Watch until the GOAWAY came. After GOAWAY a client opens new streams on a new
  // connection, which the closed port refuses. So: NOT_SERVING flushed, GOAWAY, and the streams stay open
  // until their connection goes (grpc-go cancels its health check on GOAWAY) or the grace deadline.
  // Dubbo's order (graceful_shutdown/shutdown.go): unregister, NOT_SERVING and `closing` to watchers,
  // the drain delay (pollers of Check and registry consumers notice), then GOAWAY and the grace.
  async #close(graceMs: number, drainDelayMs: number): Promise<void> {
    const unregistering = this.onClosing();
    if (unregistering !== undefined) await unregistering;
    this.health.shutdown(`${this.#parts.noun} closing`);
    if (drainDelayMs > 0 && this.#listener !== undefined) await delay(drainDelayMs);
    await this.#listener?.closeGracefully(
      graceMs,
      () => delay(shutdownFlushMs),
      () => this.#endStreams(),
    );
    await this.onClosed();
  }

  // At the grace deadline, with connections left: their server streams end with UNAVAILABLE (go
  // elsewhere) rather than a reset, given a moment to flush before the connections are destroyed.
  async #endStreams(): Promise<void> {
    this.#parts.handler.endStreams(
      new RpcError(Code.Unavailable, `the ${this.#parts.noun} is shutting down`),
    );
    await delay(shutdownFlushMs);
  }
}
