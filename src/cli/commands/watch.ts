// `triple-health watch`: prints every status change with a timestamp until interrupted.
import { servingStatusName } from "../../codec/health-types.ts";
import {
  type ClientSetup,
  clientFlags,
  connectOrReport,
  ExitCode,
  reportRpcError,
  runClientCommand,
  writeJson,
} from "../client-flags.ts";
import { type FlagSpecs, flagHelp } from "../flags.ts";
import type { CommandIo } from "../main.ts";

const watchFlags: FlagSpecs = {
  ...clientFlags,
  count: { kind: "int", hint: "n", description: "exit 0 after n statuses (default: run until interrupted)" },
};

const help = `usage: triple-health watch -addr host:port [-service name] [flags]

Calls grpc.health.v1.Health/Watch and prints "<ISO time> <service> <STATUS>" for the current status and every
change, until SIGINT or SIGTERM (exit 0). Exit codes: 1 invalid arguments, 2 connection failed, 3 the stream
failed; 0 when interrupted, when -count statuses were printed, or when the server ended the stream with OK.

flags:
${flagHelp(watchFlags)}`;

/** `triple-health watch`: prints each status a Watch stream delivers, until stopped or `-count`. @internal */
export function run(args: string[], io: CommandIo): Promise<number> {
  return runClientCommand(args, io, { specs: watchFlags, help, rpcTimeoutMs: undefined }, (setup, values) =>
    watchUntilStopped(setup, values["count"] as number | undefined, io),
  );
}

async function watchUntilStopped(
  setup: ClientSetup,
  count: number | undefined,
  io: CommandIo,
): Promise<number> {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    const connectFailed = await connectOrReport(setup, io);
    if (connectFailed !== undefined) return connectFailed;
    let seen = 0;
    try {
      for await (const status of setup.client.watch(setup.service, {
        signal: controller.signal,
        timeoutMs: setup.rpcTimeoutMs,
      })) {
        const time = new Date().toISOString();
        const name = servingStatusName(status);
        if (setup.json) writeJson(io, { time, service: setup.service, status: name });
        else io.stdout.write(`${time} ${JSON.stringify(setup.service)} ${name}\n`);
        if (count !== undefined && ++seen >= count) break;
      }
    } catch (error) {
      return reportRpcError(error, setup, io, "watch rpc");
    }
    if (controller.signal.aborted) {
      if (setup.verbose) io.stderr.write("cancellation received\n");
    } else if (count === undefined || seen < count) {
      io.stderr.write("the server ended the stream\n");
    }
    return ExitCode.Ok;
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
}
