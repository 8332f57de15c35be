// `triple-health watch`: prints every status change with a timestamp until interrupted.
import { ServingStatus, servingStatusName } from "../../codec/health-types.ts";
import { type ClientSetup, clientFlags, withClient, writeJson } from "../client-flags.ts";
import { type Command, ExitCode, runner } from "../command.ts";
import type { CommandIo } from "../main.ts";
import { abortOnStopSignals } from "../stop-signals.ts";

/** `triple-health watch`: prints each status a Watch stream delivers, until stopped or `-count`. @internal */
export const command: Command = {
  name: "watch",
  usage: `usage: triple-health watch -addr host:port [-service name] [flags]

Calls grpc.health.v1.Health/Watch and prints "<ISO time> <service> <STATUS>" for the current status and every
change, until SIGINT or SIGTERM (exit 0). Exit codes: 1 invalid arguments, 2 connection failed, 3 the stream
failed; 0 when interrupted, when -count statuses were printed, or when the server ended the stream with OK.
`,
  flags: {
    ...clientFlags,
    count: {
      kind: "int",
      hint: "n",
      description: "exit 0 after n statuses (default: run until interrupted)",
    },
  },
  async run(context) {
    const stop = abortOnStopSignals();
    try {
      return await withClient(context, { rpcTimeoutMs: undefined, what: "watch rpc" }, (setup) =>
        printStatuses(setup, context.values["count"] as number | undefined, stop.signal, context.io),
      );
    } finally {
      stop.release();
    }
  },
};

/** @internal */
export const run = runner(command);

async function printStatuses(
  setup: ClientSetup,
  count: number | undefined,
  signal: AbortSignal,
  io: CommandIo,
): Promise<number> {
  let seen = 0;
  let hinted = false;
  for await (const status of setup.client.watch(setup.service, { signal, timeoutMs: setup.rpcTimeoutMs })) {
    const time = new Date().toISOString();
    const name = servingStatusName(status);
    if (status === ServingStatus.ServiceUnknown && !hinted) {
      // Watch (unlike Check) does not fail for a name the server lacks: it waits for it. Say so once, on
      // stderr, so a typo in -service is not mistaken for a server that is slow to come up.
      hinted = true;
      io.stderr.write(
        `hint: the server does not know service ${JSON.stringify(setup.service)}; watching until it is registered (check -service for a typo; "triple-health list" shows the known ones)\n`,
      );
    }
    if (setup.json) writeJson(io, { time, service: setup.service, status: name });
    else io.stdout.write(`${time} ${JSON.stringify(setup.service)} ${name}\n`);
    if (count !== undefined && ++seen >= count) break;
  }
  if (signal.aborted) {
    if (setup.verbose) io.stderr.write("cancellation received\n");
  } else if (count === undefined || seen < count) {
    io.stderr.write("the server ended the stream\n");
  }
  return ExitCode.Ok;
}
