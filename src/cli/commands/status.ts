// `triple-health status`: each service's status with its reason, from a server's admin surface.
// Also the shared runner of the admin commands (drain, resume, set).
import { type AdminClient, AdminRequestError, createAdminClient } from "../../health/admin-client.ts";
import { FlagError, type FlagSpecs, type FlagValue, flagHelp, parseFlags } from "../flags.ts";
import type { CommandIo } from "../main.ts";

/** Exit codes of the admin commands. */
const AdminExit = { Ok: 0, InvalidArguments: 1, ConnectionFailure: 2, Refused: 3 } as const;

const adminFlags: FlagSpecs = {
  addr: {
    kind: "string",
    hint: "host:port",
    description: "(required) server address: host:port or http(s)://host:port",
  },
  token: {
    kind: "string",
    hint: "token",
    description: "bearer token (default: $TRIPLE_HEALTH_ADMIN_TOKEN; prefer it, flags show in process lists)",
  },
  prefix: { kind: "string", hint: "path", description: "admin path prefix (default /admin)" },
  timeout: { kind: "duration", description: "request timeout (default 5s)" },
  json: { kind: "bool", description: "print the server's JSON answer" },
};

/** One admin subcommand: its help, its own flags, and the call it makes. @internal */
export interface AdminCommand {
  readonly usage: string;
  readonly flags?: FlagSpecs;
  /** Calls the server; returns the JSON to print with -json and the text to print otherwise. Throws FlagError. */
  readonly action: (
    client: AdminClient,
    values: Readonly<Record<string, FlagValue>>,
  ) => Promise<{ json: unknown; text: string }>;
}

/** Parses the flags, calls the admin endpoint, prints, maps failures to exit codes. @internal */
export async function runAdminCommand(command: AdminCommand, args: string[], io: CommandIo): Promise<number> {
  const specs = { ...adminFlags, ...command.flags };
  let client: AdminClient;
  let values: Readonly<Record<string, FlagValue>>;
  let addr: string;
  try {
    const parsed = parseFlags(args, specs);
    if (parsed.help) {
      io.stdout.write(`${command.usage}\nflags:\n${flagHelp(specs)}`);
      return AdminExit.Ok;
    }
    values = parsed.values;
    addr = (values.addr as string | undefined) ?? parsed.positionals[0] ?? "";
    if (addr === "") throw new FlagError("-addr not specified");
    const token = (values.token as string | undefined) ?? io.env.TRIPLE_HEALTH_ADMIN_TOKEN;
    try {
      client = createAdminClient(addr, {
        token: token === "" ? undefined : token,
        prefix: values.prefix as string | undefined,
        timeoutMs: values.timeout as number | undefined,
      });
    } catch {
      throw new FlagError(`invalid -addr ${JSON.stringify(addr)}`);
    }
  } catch (error) {
    if (!(error instanceof FlagError)) throw error;
    io.stderr.write(`error: ${error.message}\n`);
    return AdminExit.InvalidArguments;
  }
  try {
    const { json, text } = await command.action(client, values);
    io.stdout.write(values.json === true ? `${JSON.stringify(json, null, 2)}\n` : text);
    return AdminExit.Ok;
  } catch (error) {
    if (error instanceof FlagError) {
      io.stderr.write(`error: ${error.message}\n`);
      return AdminExit.InvalidArguments;
    }
    if (error instanceof AdminRequestError) {
      io.stderr.write(`error: ${addr} answered ${error.status}: ${error.message}\n`);
      return AdminExit.Refused;
    }
    const cause = (error as { cause?: { code?: string }; code?: string }) ?? {};
    const code = cause.code ?? cause.cause?.code;
    const text = error instanceof Error ? error.message : String(error);
    io.stderr.write(
      `error: failed to reach the admin endpoint at ${JSON.stringify(addr)}: ${code ?? text}\n`,
    );
    return AdminExit.ConnectionFailure;
  }
}

const statusCommand: AdminCommand = {
  usage: `usage: triple-health status -addr host:port [-token T] [flags]

Prints each service's status with the reason and time of its last change, from the server's admin
endpoint (GET /admin/health). Exit codes: 0 shown, 1 invalid arguments, 2 connection failed, 3 refused.
`,
  async action(client) {
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
  },
};

/** `triple-health status`, through the admin surface. @internal */
export function run(args: string[], io: CommandIo): Promise<number> {
  return runAdminCommand(statusCommand, args, io);
}
