// Flags and the call every admin command (status, drain, resume, set) shares: where the admin surface is,
// the token, and how an answer or a failure is printed.
import { type AdminClient, AdminRequestError, createAdminClient } from "../health/admin-client.ts";
import { type CommandContext, CommandError, ExitCode } from "./command.ts";
import { FlagError, type FlagSpec, type FlagSpecs, type FlagValue } from "./flags.ts";

/** Where the admin bearer token is read from when no flag gives it: the client commands and `serve` alike. */
export const adminTokenEnv = "TRIPLE_HEALTH_ADMIN_TOKEN";

/** The admin bearer token flag: `-token` on the admin commands, `-admin-token` on `serve`. @internal */
export const adminTokenFlag: FlagSpec = {
  kind: "string",
  hint: "token",
  description: `admin bearer token (default: $${adminTokenEnv}; prefer it, flags show in process lists)`,
};

/**
 * The admin token: the flag `name` if given, else {@link adminTokenEnv}; undefined when neither is
 * set or it is empty. One reading for the client commands and `serve`, so both sides agree on it.
 * @internal
 */
export function adminToken(
  values: Readonly<Record<string, FlagValue>>,
  name: string,
  env: NodeJS.ProcessEnv,
): string | undefined {
  const token = (values[name] as string | undefined) ?? env[adminTokenEnv];
  return token === "" ? undefined : token;
}

/** The flags of every admin command. @internal */
export const adminFlags: FlagSpecs = {
  addr: {
    kind: "string",
    hint: "host:port",
    description: "(required) server address: host:port or http(s)://host:port",
  },
  token: adminTokenFlag,
  prefix: { kind: "string", hint: "path", description: "admin path prefix (default /admin)" },
  timeout: { kind: "duration", description: "request timeout (default 5s)" },
  json: { kind: "bool", description: "print the server's JSON answer" },
};

/** `-reason`, recorded with a change (drain, resume, set). @internal */
export const reasonFlag: FlagSpec = {
  kind: "string",
  hint: "text",
  description: "reason recorded with the change",
};

/**
 * Builds the admin client from the flags, makes `call`, prints its JSON (`-json`) or its text; a refusal
 * is exit 3, an unreachable server exit 2, a bad flag exit 1.
 * @internal
 */
export async function callAdmin(
  context: CommandContext,
  call: (client: AdminClient) => Promise<{ json: unknown; text: string }>,
): Promise<number> {
  const { values, io } = context;
  const addr = (values["addr"] as string | undefined) ?? context.positionals[0] ?? "";
  if (addr === "") throw new FlagError("-addr not specified");
  let client: AdminClient;
  try {
    client = createAdminClient(addr, {
      token: adminToken(values, "token", io.env),
      prefix: values["prefix"] as string | undefined,
      timeoutMs: values["timeout"] as number | undefined,
    });
  } catch {
    throw new FlagError(`invalid -addr ${JSON.stringify(addr)}`);
  }
  let answer: { json: unknown; text: string };
  try {
    answer = await call(client);
  } catch (error) {
    if (error instanceof FlagError) throw error;
    if (error instanceof AdminRequestError) {
      // 404/405 without the admin surface's JSON: nothing is mounted there, which the bare status does not say.
      const hint =
        (error.status === 404 || error.status === 405) && /^HTTP \d+$/.test(error.message)
          ? " (no admin surface there: start the server with --admin, or check -prefix)"
          : "";
      throw new CommandError(
        ExitCode.RpcFailure,
        `${addr} answered ${error.status}: ${error.message}${hint}`,
      );
    }
    const cause = (error as { cause?: { code?: string }; code?: string }) ?? {};
    const code = cause.code ?? cause.cause?.code;
    const text = error instanceof Error ? error.message : String(error);
    throw new CommandError(
      ExitCode.ConnectionFailure,
      `failed to reach the admin endpoint at ${JSON.stringify(addr)}: ${code ?? text}`,
    );
  }
  io.stdout.write(values["json"] === true ? `${JSON.stringify(answer.json, null, 2)}\n` : answer.text);
  return ExitCode.Ok;
}
