// `triple-health status`: each service's status with its reason, from a server's admin surface.
import { adminFlags, callAdmin } from "../admin-flags.ts";
import { type Command, runner } from "../command.ts";

/** `triple-health status`, through the admin surface. @internal */
export const command: Command = {
  name: "status",
  usage: `usage: triple-health status -addr host:port [-token T] [flags]

Prints each service's status with the reason and time of its last change, from the server's admin
endpoint (GET /admin/health). Exit codes: 0 shown, 1 invalid arguments, 2 connection failed, 3 refused.
`,
  flags: adminFlags,
  run: (context) =>
    callAdmin(context, async (client) => {
      const report = await client.status();
      const lines = [`draining: ${report.draining}${report.shutdown ? " (shutting down)" : ""}`];
      for (const s of report.services) {
        const extra = [
          s.override === null ? "" : ` [override ${s.override}]`,
          ...s.failing.map((f) => ` [failing ${f.source}]`),
        ].join("");
        lines.push(`${JSON.stringify(s.service)}: ${s.status} since ${s.since} (${s.reason})${extra}`);
      }
      return { json: report, text: `${lines.join("\n")}\n` };
    }),
};

/** @internal */
export const run = runner(command);
