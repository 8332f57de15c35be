// `triple-health resume`: ends a drain (the admin surface's POST /admin/resume).
import type { FlagSpecs } from "../flags.ts";
import type { CommandIo } from "../main.ts";
import { type AdminCommand, runAdminCommand } from "./status.ts";

const flags: FlagSpecs = {
  reason: { kind: "string", hint: "text", description: "reason recorded with the change" },
};

const command: AdminCommand = {
  usage: `usage: triple-health resume -addr host:port [-token T] [-reason text] [flags]

Resumes a drained server: each service gets back the status its checks and settings give it.
Calls POST /admin/resume. Exit codes: 0 resumed, 1 invalid arguments, 2 connection failed,
3 refused (409: the server is shutting down).
`,
  flags,
  async action(client, values) {
    const answer = await client.resume(values.reason as string | undefined);
    return { json: answer, text: "resumed\n" };
  },
};

/** `triple-health resume`, through the admin surface. @internal */
export function run(args: string[], io: CommandIo): Promise<number> {
  return runAdminCommand(command, args, io);
}
