// `triple-health discover`: the providers of a service key in a registry, at which level, their URLs
// and their health — dubbo-admin's provider list on the command line; `-watch` follows it.
import { createEndpointPicker } from "../../client/endpoint-picker.ts";
import { createHealthClient } from "../../client/health-client.ts";
import { ServingStatus, servingStatusName } from "../../codec/health-types.ts";
import type { DiscoveredProvider, ProviderDiscovery } from "../../discovery/provider-discovery.ts";
import { type Command, CommandError, ExitCode, rejectPositionals, runner } from "../command.ts";
import { describeDiscoveryEvent, discoveryFlags } from "../discovery-flags.ts";
import { FlagError, type FlagSpecs } from "../flags.ts";
import { describeEvent } from "../proxy-log.ts";
import { startDiscovery } from "../registry-discovery.ts";
import { abortOnStopSignals } from "../stop-signals.ts";

const flags: FlagSpecs = {
  ...discoveryFlags,
  service: { kind: "string", hint: "name", description: "the interface whose providers to list (required)" },
  json: { kind: "bool", description: "one JSON object per provider, one per line" },
  watch: { kind: "bool", description: "then print every change (added, removed, health) until interrupted" },
  timeout: {
    kind: "duration",
    description:
      "bound on reaching the registry, on the first complete read, and on each Check (default 10s)",
  },
};

/** What is printed of one provider. @internal */
export interface ProviderReport {
  endpoint: string;
  levels: readonly string[];
  status: string;
  urls: readonly string[];
}

/** The status name of `service` on `endpoint`, or what kept Check from answering. @internal */
export async function checkProvider(endpoint: string, service: string, timeoutMs: number): Promise<string> {
  const client = createHealthClient(endpoint, { timeoutMs, connectTimeoutMs: timeoutMs });
  try {
    return servingStatusName(await client.check(service));
  } catch (error) {
    return `UNREACHABLE (${error instanceof Error ? error.message : String(error)})`;
  } finally {
    await client.close().catch(() => {});
  }
}

function line(report: ProviderReport, json: boolean): string {
  if (json) return JSON.stringify(report);
  return `${report.endpoint}  ${report.levels.join("+")}  ${report.status}  ${report.urls[0] ?? ""}`;
}

/** `triple-health discover`. @internal */
export const command: Command = {
  name: "discover",
  usage: `usage: triple-health discover -registry zookeeper://h:p,… -service name [-group G -version V] [-json] [-watch]

Lists every provider of the service key group/service:version registered in ZooKeeper, at either Dubbo level
(interface URLs, application instances with their MetadataServiceV2), with its URL and its health: a Check of
the service key on it. -watch then prints each change with a timestamp until SIGINT/SIGTERM.
Exit codes: 0 at least one provider SERVING, 1 invalid arguments, 2 registry unreachable, 3 no provider
registered, 4 providers registered but none SERVING.
`,
  flags,
  async run({ io, values, positionals }) {
    rejectPositionals(positionals);
    if (values["registry"] === undefined) throw new FlagError("-registry is required");
    const service = values["service"] as string | undefined;
    if (!service) throw new FlagError("-service is required");
    const json = values["json"] === true;
    const timeoutMs = (values["timeout"] as number | undefined) ?? 10_000;
    const watch = values["watch"] === true;
    const stamp = () => new Date().toISOString();
    // Skipped entries and failed reads: discovery's own; the rest (providers, outages) -watch prints from
    // the picker's events, described as the proxy's log describes them.
    const found = startDiscovery(values, service, (event) => {
      if (watch && (event.type === "skipped" || event.type === "error"))
        io.stderr.write(`${stamp()} registry: ${describeDiscoveryEvent(event)}\n`);
    });
    try {
      try {
        await found.client.waitConnected(timeoutMs);
      } catch {
        throw new CommandError(
          ExitCode.ConnectionFailure,
          `registry ${found.registry} unreachable within ${timeoutMs} ms`,
        );
      }
      await found.discovery.ready(timeoutMs);
      const key = found.discovery.serviceKey;
      const providers = found.discovery.providers;
      const reports = await Promise.all(
        providers.map(async (p: DiscoveredProvider) => ({
          endpoint: p.endpoint,
          levels: p.levels,
          status: await checkProvider(p.endpoint, key, timeoutMs),
          urls: p.urls,
        })),
      );
      for (const report of reports) io.stdout.write(`${line(report, json)}\n`);
      const serving = reports.filter((r) => r.status === "SERVING").length;
      if (!json)
        io.stderr.write(`${providers.length} providers of ${key}, ${serving} SERVING (${found.registry})\n`);
      const code =
        providers.length === 0 ? ExitCode.RpcFailure : serving > 0 ? ExitCode.Ok : ExitCode.Unhealthy;
      if (!watch) return code;
      return await follow(found.discovery, key, io, json, stamp);
    } finally {
      await found.close();
    }
  },
};

/**
 * `-watch`: providers joining and leaving, and each one's health as its Watch stream says, on stdout (text:
 * the proxy log's wording); the registry's outages on stderr.
 */
async function follow(
  discovery: ProviderDiscovery,
  key: string,
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream },
  json: boolean,
  stamp: () => string,
): Promise<number> {
  const stop = abortOnStopSignals();
  const picker = createEndpointPicker({ discovery, service: key, panicThreshold: 0 });
  picker.on((event) => {
    if (event.type === "source") {
      io.stderr.write(`${stamp()} ${describeEvent(event)}\n`);
      return;
    }
    let change: Record<string, unknown> | undefined;
    if (event.type === "added" || event.type === "removed")
      change = { change: event.type, endpoint: event.endpoint };
    else if (event.type === "status")
      change = {
        change: "health",
        endpoint: event.endpoint,
        status:
          event.status === undefined ? "UNKNOWN" : servingStatusName(event.status ?? ServingStatus.Unknown),
        reason: event.reason,
      };
    if (change === undefined) return;
    const time = stamp();
    const levels =
      event.type === "added"
        ? discovery.providers.find((p) => p.endpoint === event.endpoint)?.levels
        : undefined;
    io.stdout.write(
      json ? `${JSON.stringify({ time, ...change })}\n` : `${time} ${describeEvent(event, levels)}\n`,
    );
  });
  await new Promise<void>((resolve) =>
    stop.signal.addEventListener("abort", () => resolve(), { once: true }),
  );
  stop.release();
  await picker.close();
  return ExitCode.Ok;
}

/** @internal */
export const run = runner(command);
