// `triple-health set`: an operator override of one service's status (the admin surface's POST /admin/set).
import { adminFlags, callAdmin, reasonFlag } from "../admin-flags.ts";
import { type Command, runner } from "../command.ts";
import { FlagError } from "../flags.ts";

/** `triple-health set`, through the admin surface. @internal */
export const command: Command = {
  name: "set",
  usage: `usage: triple-health set -addr host:port -service NAME -status NOT_SERVING [-token T] [flags]

Overrides one service's status: the override beats its checks (not a drain) until cleared with
-status CLEAR. Calls POST /admin/set. Exit codes: 0 set, 1 invalid arguments, 2 connection failed, 3 refused.
`,
  flags: {
    ...adminFlags,
    service: {
      kind: "string",
      hint: "name",
      description: '(required) service name ("" is the whole server)',
    },
    status: {
      kind: "string",
      hint: "STATUS",
      choices: ["SERVING", "NOT_SERVING", "UNKNOWN", "CLEAR"],
      description: "(required) SERVING, NOT_SERVING, UNKNOWN, or CLEAR to remove the override",
    },
    reason: reasonFlag,
  },
  run: (context) =>
    callAdmin(context, async (client) => {
      const { values } = context;
      const service = values["service"] as string | undefined;
      const status = values["status"] as string | undefined;
      if (service === undefined) throw new FlagError("-service not specified");
      if (status === undefined) throw new FlagError("-status not specified");
      const answer = await client.set(
        service,
        status === "CLEAR" ? null : status,
        values["reason"] as string | undefined,
      );
      const what = answer.override === null ? "override cleared" : `override ${answer.override}`;
      return { json: answer, text: `${JSON.stringify(answer.service)}: ${what}, now ${answer.status}\n` };
    }),
};

/** @internal */
export const run = runner(command);
