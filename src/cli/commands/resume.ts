// `triple-health resume`: ends a drain (the admin surface's POST /admin/resume).
import { adminFlags, callAdmin, reasonFlag } from "../admin-flags.ts";
import { type Command, runner } from "../command.ts";

/** `triple-health resume`, through the admin surface. @internal */
export const command: Command = {
  name: "resume",
  usage: `usage: triple-health resume -addr host:port [-token T] [-reason text] [flags]

Resumes a drained server: each service gets back the status its checks and settings give it.
Calls POST /admin/resume. Exit codes: 0 resumed, 1 invalid arguments, 2 connection failed,
3 refused (409: the server is shutting down).
`,
  flags: { ...adminFlags, reason: reasonFlag },
  run: (context) =>
    callAdmin(context, async (client) => ({
      json: await client.resume(context.values["reason"] as string | undefined),
      text: "resumed\n",
    })),
};

/** @internal */
export const run = runner(command);
