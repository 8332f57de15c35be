// `triple-health list`: every service's status from grpc.health.v1.Health/List.
import { servingStatusName } from "../../codec/health-types.ts";
import { listFlags, withClient, writeJson } from "../client-flags.ts";
import { type Command, ExitCode, runner } from "../command.ts";

/** `triple-health list`: one List call, every service with its status. @internal */
export const command: Command = {
  name: "list",
  usage: `usage: triple-health list -addr host:port [flags]

Calls grpc.health.v1.Health/List and prints one "name: STATUS" line per service ("" is the whole server).
Exit codes: 0 listed, 1 invalid arguments, 2 connection failed, 3 rpc failed (UNIMPLEMENTED: no List method).
`,
  flags: listFlags,
  run: (context) =>
    withClient(context, { rpcTimeoutMs: 1000, what: "list rpc" }, async (setup) => {
      const { io } = context;
      const statuses = await setup.client.list({ timeoutMs: setup.rpcTimeoutMs });
      if (setup.json) {
        const out: Record<string, string> = {};
        for (const [name, status] of statuses) out[name] = servingStatusName(status);
        writeJson(io, { addr: setup.addr, statuses: out });
      } else {
        for (const [name, status] of statuses)
          io.stdout.write(`${JSON.stringify(name)}: ${servingStatusName(status)}\n`);
      }
      return ExitCode.Ok;
    }),
};

/** @internal */
export const run = runner(command);
