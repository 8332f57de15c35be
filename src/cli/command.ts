// The one framework every `triple-health` subcommand runs on: its flags are parsed with Go's conventions,
// `-h`/`--help` and `--version` answered the same way everywhere, usage errors and failures mapped to one
// table of exit codes.
import { FlagError, type FlagSpecs, type FlagValue, flagHelp, parseFlags } from "./flags.ts";
import type { CommandIo } from "./main.ts";
import { packageVersion } from "./version.ts";

/**
 * Every command's exit codes. check keeps grpc_health_probe's (a probe's caller reads them); the other
 * commands give the same failure the same code.
 * @internal
 */
export const ExitCode = {
  /** Done (check: the service is SERVING; serve and proxy: closed gracefully). */
  Ok: 0,
  /** Invalid arguments: a flag, an address, a service name, a file; decode: input it cannot decode. */
  InvalidArguments: 1,
  /** The network failed: cannot connect or connecting timed out (client commands), cannot listen (hosts). */
  ConnectionFailure: 2,
  /** The server answered with a failure: the RPC failed or timed out, the admin surface refused. */
  RpcFailure: 3,
  /** check: the RPC succeeded but the status is not SERVING. */
  Unhealthy: 4,
} as const;

/** A failure a command reports as one line on stderr and exits with. @internal */
export class CommandError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
    this.name = "CommandError";
  }
}

/** What a command's `run` gets: its streams and its parsed flags. @internal */
export interface CommandContext {
  readonly io: CommandIo;
  /** Only the flags that were given; durations in ms. */
  readonly values: Readonly<Record<string, FlagValue>>;
  readonly positionals: readonly string[];
}

/** One subcommand: its name, help, flags and what it does. @internal */
export interface Command {
  readonly name: string;
  /** The help above the flag list: a usage line, what the command does, its exit codes. Ends with "\n". */
  readonly usage: string;
  readonly flags: FlagSpecs;
  /**
   * serve and proxy run until a stop signal and their lines end up in a service's log, so each line
   * (errors too) names who wrote it; one-shot commands word errors as grpc_health_probe does (`error: `).
   */
  readonly host?: boolean;
  /** Does the work; resolves to an exit code, or throws FlagError (exit 1) or CommandError. */
  run(context: CommandContext): Promise<number>;
}

/** The text `-h` prints. @internal */
export function commandHelp(command: Command): string {
  return `${command.usage}\nflags:\n${flagHelp(command.flags)}`;
}

/** The prefix of every line a command writes about itself. @internal */
export function linePrefix(command: Pick<Command, "name" | "host">): string {
  return command.host === true ? `triple-health ${command.name}: ` : "error: ";
}

/** Runs `command` with `args`: help, version, flags, then its `run`; resolves to the exit code. @internal */
export async function runCommand(command: Command, args: readonly string[], io: CommandIo): Promise<number> {
  try {
    const parsed = parseFlags(args, command.flags);
    if (parsed.help) {
      io.stdout.write(commandHelp(command));
      return ExitCode.Ok;
    }
    if (parsed.version) {
      io.stdout.write(`${packageVersion()}\n`);
      return ExitCode.Ok;
    }
    return await command.run({ io, values: parsed.values, positionals: parsed.positionals });
  } catch (error) {
    if (error instanceof FlagError) {
      io.stderr.write(`${linePrefix(command)}${error.message}\n`);
      return ExitCode.InvalidArguments;
    }
    if (error instanceof CommandError) {
      io.stderr.write(`${linePrefix(command)}${error.message}\n`);
      return error.exitCode;
    }
    throw error;
  }
}

/** The `run(args, io)` a command module exports (what main.ts and the tests call). @internal */
export function runner(command: Command): (args: string[], io: CommandIo) => Promise<number> {
  return (args, io) => runCommand(command, args, io);
}

/** Throws FlagError for a positional argument a command does not take. @internal */
export function rejectPositionals(positionals: readonly string[]): void {
  if (positionals.length > 0) throw new FlagError(`unexpected argument ${JSON.stringify(positionals[0])}`);
}
