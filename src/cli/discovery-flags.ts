// The flags of the commands that find providers in a registry (`proxy -registry`, `discover`), and
// the discovery they set up: a ZooKeeper session and a ProviderDiscovery of one service key.
import {
  type DiscoveryEvent,
  type DiscoveryLevels,
  ProviderDiscovery,
} from "../discovery/provider-discovery.ts";
import { parseRegistryUrl } from "../discovery/registry-url.ts";
import { ZooKeeperClient } from "../discovery/zookeeper/index.ts";
import { FlagError, type FlagSpecs, type FlagValue } from "./flags.ts";

/** @internal */
export const discoveryFlags: FlagSpecs = {
  registry: {
    kind: "string",
    hint: "url",
    description: "find the providers in this registry: zookeeper://h1:p1,h2:p2 (Dubbo's URL forms)",
  },
  group: { kind: "string", hint: "G", description: "Dubbo group of the service (default none)" },
  version: { kind: "string", hint: "V", description: "Dubbo version of the service (default none)" },
  levels: {
    kind: "string",
    choices: ["all", "interface", "instance", "application-first"],
    description:
      "registrations read: both levels merged by address (all, default), one, or Java's application-first",
  },
};

/** A running discovery and what it stands on. @internal */
export interface RegistryDiscovery {
  readonly client: ZooKeeperClient;
  readonly discovery: ProviderDiscovery;
  /** The registry URL without credentials, for messages. */
  readonly registry: string;
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
  const discovery = new ProviderDiscovery({
    client,
    service,
    group: (values["group"] as string | undefined) ?? "",
    version: (values["version"] as string | undefined) ?? "",
    root: url.root,
    levels: values["levels"] as DiscoveryLevels | undefined,
    onEvent,
  }).start();
  return {
    client,
    discovery,
    registry: `zookeeper://${url.servers.map((s) => `${s.host}:${s.port}`).join(",")}`,
    async close() {
      discovery.close();
      await client.close();
    },
  };
}

/** One line per discovery event (without the timestamp). @internal */
export function describeDiscoveryEvent(event: DiscoveryEvent): string {
  switch (event.type) {
    case "added":
    case "removed":
      return `${event.type} ${event.provider.endpoint} (${event.provider.levels.join("+")} level)`;
    case "skipped":
      return `skipped ${event.level} entry ${event.entry}: ${event.reason}`;
    case "outage":
      return event.down ? `registry lost: ${event.reason}` : `registry back: ${event.reason}`;
    default:
      return `registry read of ${event.path || "a node"} failed (retrying): ${event.message}`;
  }
}
