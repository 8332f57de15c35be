// `triple-health drain`: every status NOT_SERVING until `resume` (the admin surface's POST /admin/drain).
import type { FlagSpecs } from "../flags.ts";
import type { CommandIo } from "../main.ts";
import { type AdminCommand, runAdminCommand } from "./status.ts";

const flags: FlagSpecs = {
  reason: { kind: "string", hint: "text", description: "reason recorded with the change" },
};

const command: AdminCommand = {
  usage: `usage: triple-health drain -addr host:port [-token T] [-reason text] [flags]

Drains the server: every service reads NOT_SERVING (Check, Watch, /readyz) until \`triple-health resume\`,
whatever its checks say, so balancers move traffic away. Calls POST /admin/drain.
Exit codes: 0 drained, 1 invalid arguments, 2 connection failed, 3 refused.
`,
  flags,
  async action(client, values) {
    const answer = await client.drain(values.reason as string | undefined);
    return { json: answer, text: "drained: every service NOT_SERVING until resumed\n" };
  },
};

/** `triple-health drain`, through the admin surface. @internal */
export function run(args: string[], io: CommandIo): Promise<number> {
  return runAdminCommand(command, args, io);
}
