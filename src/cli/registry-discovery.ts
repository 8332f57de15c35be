// What `-registry` starts for `proxy` and `discover`: a ZooKeeper session and a ProviderDiscovery of one
// service key. Imported on demand, so a command without -registry never loads the ZooKeeper client.
import {
  type DiscoveryEvent,
  type DiscoveryLevels,
  ProviderDiscovery,
} from "../discovery/provider-discovery.ts";
import { parseRegistryUrl } from "../discovery/registry-url.ts";
import { ZooKeeperClient } from "../discovery/zookeeper/index.ts";
import { FlagError, type FlagValue } from "./flags.ts";

/** A running discovery and what it stands on. @internal */
export interface RegistryDiscovery {
  readonly client: ZooKeeperClient;
  readonly discovery: ProviderDiscovery;
  /** The registry URL without credentials, for messages. */
  readonly registry: string;
  /** Adds a listener of the discovery's events (beside the `onEvent` it was started with); returns its removal. */
  onEvent(listener: (event: DiscoveryEvent) => void): () => void;
  close(): Promise<void>;
}

/**
 * Parses `-registry` (a FlagError naming it when malformed) and starts a session and a discovery of
 * `service` under `-group`/`-version`. The session connects in the background.
 * @internal
 */
export function startDiscovery(
  values: Readonly<Record<string, FlagValue>>,
  service: string,
  onEvent?: (event: DiscoveryEvent) => void,
): RegistryDiscovery {
  const text = values["registry"] as string;
  let url: ReturnType<typeof parseRegistryUrl>;
  try {
    url = parseRegistryUrl(text);
  } catch (error) {
    throw new FlagError(
      `invalid value for -registry: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const client = new ZooKeeperClient({
    servers: url.servers,
    sessionTimeoutMs: url.sessionTimeoutMs,
    connectTimeoutMs: url.connectTimeoutMs,
    auth: url.auth,
  });
  client.start();
  const listeners = new Set<(event: DiscoveryEvent) => void>();
  if (onEvent !== undefined) listeners.add(onEvent);
  const discovery = new ProviderDiscovery({
    client,
    service,
    group: (values["group"] as string | undefined) ?? "",
    version: (values["version"] as string | undefined) ?? "",
    root: url.root,
    levels: values["levels"] as DiscoveryLevels | undefined,
    onEvent: (event) => {
      for (const listener of [...listeners]) listener(event);
    },
  }).start();
  return {
    client,
    discovery,
    registry: `zookeeper://${url.servers.map((s) => `${s.host}:${s.port}`).join(",")}`,
    onEvent(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    async close() {
      discovery.close();
      await client.close();
    },
  };
}
