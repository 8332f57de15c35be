// `triple-health drain`: every status NOT_SERVING until `resume` (the admin surface's POST /admin/drain).
import { adminFlags, callAdmin, reasonFlag } from "../admin-flags.ts";
import { type Command, runner } from "../command.ts";

/** `triple-health drain`, through the admin surface. @internal */
export const command: Command = {
  name: "drain",
  usage: `usage: triple-health drain -addr host:port [-token T] [-reason text] [flags]

Drains the server: every service reads NOT_SERVING (Check, Watch, /readyz) until \`triple-health resume\`,
whatever its checks say, so balancers move traffic away. Calls POST /admin/drain.
Exit codes: 0 drained, 1 invalid arguments, 2 connection failed, 3 refused.
`,
  flags: { ...adminFlags, reason: reasonFlag },
  run: (context) =>
    callAdmin(context, async (client) => ({
      json: await client.drain(context.values["reason"] as string | undefined),
      text: "drained: every service NOT_SERVING until resumed\n",
    })),
};

/** @internal */
export const run = runner(command);
