// The flags of the commands that find providers in a registry (`proxy -registry`, `discover`) and their
// log lines. What they start (registry-discovery.ts) is loaded only when -registry is given.
import type { DiscoveryEvent } from "../discovery/provider-discovery.ts";
import type { FlagSpecs } from "./flags.ts";

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
