import { healthServiceName, ServingStatus } from "../codec/health-types.ts";
import { buildMetadataInfo } from "../discovery/dubbo/metadata-info.ts";
import {
  createMetadataService,
  metadataServiceExport,
  metadataServiceName,
} from "../discovery/metadata-service.ts";
import { registerAddress } from "../discovery/register-address.ts";
import type { RegisterMode, RegistrationEvent, RegistrationSnapshot } from "../discovery/registration.ts";
import type { RegistryClient } from "../discovery/registry-client.ts";
import { parseRegistryUrl, type RegistryUrl } from "../discovery/registry-url.ts";
import {
  packageRelease,
  startZooKeeperRegistration,
  type ZooKeeperRegistration,
} from "../discovery/zookeeper-registration.ts";
import type { HealthServiceOptions } from "../health/health-service.ts";
import { HealthRegistry } from "../health/registry.ts";
import { serviceKey } from "../health/service-key.ts";
import type { ConnectionOptions, Http1Options, Http2Options } from "../server/options.ts";
import type { TlsOptions } from "../server/port-listener.ts";
import type { ServiceExport } from "../server/router.ts";
import { RpcHandler, type RpcHandlerOptions } from "../server/rpc-handler.ts";
import type { ServiceMethods } from "../server/service-types.ts";
import { ConfigError } from "../wire/config-error.ts";
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
  /**
   * A registry to register in while SERVING: `zookeeper://h1:p1,h2:p2,h3:p3` or
   * `zookeeper://h1:p1?backup=h2:p2`, with `user:password@` and Dubbo's `session`, `timeout` and `group`
   * parameters. Registration starts on `listen()` and follows health (see the README, "In a Dubbo fleet").
   */
  registry?: string;
  /** The Dubbo application name (needed by register modes `all` and `instance`). */
  application?: string;
  /** Dubbo's levels written: `all` (default, as Dubbo Java), `interface` or `instance`. */
  registerMode?: RegisterMode;
  /**
   * The address registered, `host` or `host:port`; default `$DUBBO_IP_TO_REGISTRY` /
   * `$DUBBO_PORT_TO_REGISTRY`, else the bound address (bound to 0.0.0.0 or ::, the first non-internal one).
   */
  registryHost?: string;
  /**
   * How long `close()` stays up after unregistering and turning NOT_SERVING, before GOAWAY, ms: consumers
   * of the registry and pollers of Check need it to stop sending. Default 0 (the `serve` command: 3 s with
   * a registry, dubbo-go's consumer-update-wait-time).
   */
  drainDelayMs?: number;
  /** Registration events (registered, unregistered, session lost/expired/re-established, errors). */
  onRegistration?: (event: RegistrationEvent) => void;
  /** @internal Makes the registry client (tests); a `ZooKeeperClient` by default. */
  registryClient?: (url: RegistryUrl) => RegistryClient;
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
  readonly #registry: RegistrySettings | undefined;
  #registration: Promise<ZooKeeperRegistration | undefined> | undefined;
  #current: ZooKeeperRegistration | undefined;

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
      drainDelayMs: options.drainDelayMs,
    });
    this.handler = handler;
    this.#registry = registrySettings(options);
    if (this.#registry !== undefined && this.#registry.mode !== "interface") {
      // Application-level consumers ask the instance itself what it serves (storage-type local).
      handler.addService(
        metadataServiceName,
        createMetadataService(() => this.#current?.metadata ?? this.#emptyMetadata()),
        metadataServiceExport(this.#registry.application),
      );
    }
  }

  /**
   * What is registered now (nodes, session state, last error), or undefined without a registry or
   * before `listen()`.
   */
  get registration(): RegistrationSnapshot | undefined {
    return this.#current?.snapshot;
  }

  /**
   * Deletes every registry node now and stops registering (what `close()` does first; for a shutdown
   * that drains before closing). Resolves once the registry confirmed it, or after 5 s.
   */
  async unregister(): Promise<void> {
    const registration = await this.#registration;
    await registration?.unregister(unregisterTimeoutMs);
  }

  #emptyMetadata() {
    const application = this.#registry?.application ?? "";
    return buildMetadataInfo([], { application, host: "", port: 0, release: "", pid: 0, timestamp: 0 });
  }

  // The exports registered: every one added, but never the health or metadata services.
  #exports() {
    return this.handler.exports
      .filter(({ service }) => service !== healthServiceName && service !== metadataServiceName)
      .map((info) => ({ ...info, methods: this.handler.methodNames(info) }));
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
    const settings = this.#registry;
    const bound = this.address;
    if (settings === undefined || bound === undefined) return;
    const address = registerAddress(bound, settings.registryHost);
    this.#registration = startZooKeeperRegistration({
      url: settings.url,
      health: this.health,
      mode: settings.mode,
      application: settings.application,
      address,
      exports: () => this.#exports(),
      release: packageRelease(),
      ...(settings.onEvent === undefined ? {} : { onEvent: settings.onEvent }),
      ...(settings.client === undefined ? {} : { client: settings.client }),
    }).then((registration) => {
      this.#current = registration;
      return registration;
    });
  }

  // Dubbo's order: every node deleted before anything turns NOT_SERVING. Bounded: an unreachable
  // registry does not hold the shutdown (its ephemeral nodes go with the session).
  protected override onClosing(): Promise<void> | undefined {
    return this.#registration === undefined ? undefined : this.unregister();
  }

  protected override async onClosed(): Promise<void> {
    const registration = await this.#registration;
    await registration?.close();
  }
}

// Longest a close waits for the registry to confirm the deletes.
const unregisterTimeoutMs = 5_000;

interface RegistrySettings {
  url: RegistryUrl;
  mode: RegisterMode;
  application: string;
  registryHost: string | undefined;
  onEvent: ((event: RegistrationEvent) => void) | undefined;
  client: ((url: RegistryUrl) => RegistryClient) | undefined;
}

function registrySettings(options: TripleServerOptions): RegistrySettings | undefined {
  if (options.registry === undefined) {
    for (const name of ["application", "registerMode", "registryHost"] as const)
      if (options[name] !== undefined) throw new ConfigError(`${name} needs registry`);
    return undefined;
  }
  const url = parseRegistryUrl(options.registry);
  const mode = options.registerMode ?? "all";
  if (mode !== "all" && mode !== "interface" && mode !== "instance")
    throw new ConfigError(`registerMode must be all, interface or instance, got ${JSON.stringify(mode)}`);
  const application = options.application ?? "";
  if (application === "" && mode !== "interface")
    throw new ConfigError(`registerMode ${mode} needs an application name`);
  if (application !== "" && !/^[A-Za-z0-9_.-]+$/.test(application))
    throw new ConfigError(`application ${JSON.stringify(application)}: use letters, digits, _ . -`);
  return {
    url,
    mode,
    application: application === "" ? "triple-health" : application,
    registryHost: options.registryHost,
    onEvent: options.onRegistration,
    client: options.registryClient,
  };
}

/** A new {@link TripleServer}. */
export function createTripleServer(options?: TripleServerOptions): TripleServer {
  return new TripleServer(options);
}
