// Health-gated registration in ZooKeeper, as a host starts it: the client (loaded only when a registry is
// configured, so the core never loads it), the registrar, and what an operator is told.
import { createRequire } from "node:module";
import type { HealthRegistry } from "../health/registry.ts";
import type { ProviderExport } from "./dubbo/interface-url.ts";
import type { MetadataInfo } from "./dubbo/metadata-info.ts";
import {
  type RegisterMode,
  Registrar,
  type RegistrationEvent,
  type RegistrationSnapshot,
} from "./registration.ts";
import type { RegistryClient } from "./registry-client.ts";
import type { RegistryUrl } from "./registry-url.ts";

/** Options of {@link startZooKeeperRegistration}. @internal */
export interface ZooKeeperRegistrationOptions {
  url: RegistryUrl;
  health: HealthRegistry;
  mode: RegisterMode;
  application: string;
  address: { host: string; port: number };
  exports: () => readonly ProviderExport[];
  release: string;
  onEvent?: (event: RegistrationEvent) => void;
  /** Makes the client (tests give their own); a `ZooKeeperClient` by default. */
  client?: (url: RegistryUrl) => RegistryClient;
}

/** A running registration: what the host holds. @internal */
export interface ZooKeeperRegistration {
  readonly snapshot: RegistrationSnapshot;
  readonly metadata: MetadataInfo;
  /** Deletes every node (the first step of a shutdown); resolves within `timeoutMs` whatever happens. */
  unregister(timeoutMs: number): Promise<void>;
  /** Stops following health and closes the ZooKeeper session. */
  close(): Promise<void>;
}

/** The registry named without credentials, for logs and the admin surface. */
export function describeRegistry(url: RegistryUrl): string {
  const hosts = url.servers.map(({ host, port }) =>
    host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`,
  );
  return `zookeeper://${hosts.join(",")}/${url.root}`;
}

/**
 * Starts registering: the client connects in the background (an unreachable registry does not stop the
 * server: it is logged and the nodes are created once a session exists); the registrar follows health.
 * @internal
 */
export async function startZooKeeperRegistration(
  options: ZooKeeperRegistrationOptions,
): Promise<ZooKeeperRegistration> {
  const { url } = options;
  const client = options.client?.(url) ?? (await defaultClient(url, options.onEvent));
  const registrar = new Registrar({
    client,
    registry: describeRegistry(url),
    root: url.root,
    health: options.health,
    mode: options.mode,
    exports: options.exports,
    identity: {
      application: options.application,
      host: options.address.host,
      port: options.address.port,
      release: options.release,
      pid: process.pid,
      timestamp: Date.now(),
    },
    acl: url.auth === undefined ? "open" : "creator",
    ...(options.onEvent === undefined ? {} : { onEvent: options.onEvent }),
  });
  registrar.start();
  return {
    get snapshot() {
      return registrar.snapshot;
    },
    get metadata() {
      return registrar.metadata;
    },
    async unregister(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        registrar.unregister(),
        new Promise((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
        }),
      ]);
      clearTimeout(timer);
    },
    async close() {
      registrar.close();
      await client.close();
    },
  };
}

async function defaultClient(
  url: RegistryUrl,
  onEvent: ((event: RegistrationEvent) => void) | undefined,
): Promise<RegistryClient> {
  const { ZooKeeperClient } = await import("./zookeeper/index.ts");
  let unreachableReported = false;
  return new ZooKeeperClient({
    servers: url.servers,
    ...(url.sessionTimeoutMs === undefined ? {} : { sessionTimeoutMs: url.sessionTimeoutMs }),
    ...(url.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: url.connectTimeoutMs }),
    ...(url.auth === undefined ? {} : { auth: url.auth }),
    onLog: (event) => {
      // Warnings (a member unreachable, the whole ensemble unreachable) once until the next session.
      if (event.level !== "warn" || unreachableReported) return;
      unreachableReported = true;
      onEvent?.({ kind: "error", message: `registry: ${event.message}`, time: Date.now() });
    },
  });
}

let release: string | undefined;

/** The `release` parameter: this package's version (Dubbo writes its own there). @internal */
export function packageRelease(): string {
  release ??= (createRequire(import.meta.url)("../../package.json") as { version: string }).version;
  return release;
}
