#!/usr/bin/env node
// The `triple-health` command: a dispatcher over one module per subcommand in ./commands/.
import { realpathSync } from "node:fs";
import nodeModule from "node:module";
import { fileURLToPath } from "node:url";
import { ExitCode } from "./command.ts";
import { packageVersion } from "./version.ts";

/**
 * The streams and environment a command runs with: the process's own, or captured ones in tests. Every
 * subcommand module exports `run(args, io)`, its Command run by `runCommand` (./command.ts), and resolves to
 * the process exit code.
 * @internal
 */
export interface CommandIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
  /** Ends the process at once (a second stop signal during a graceful close); absent in tests. */
  exit?: (code: number) => void;
}
/** The `run` every subcommand module exports. @internal */
export type CommandRun = (args: string[], io: CommandIo) => Promise<number>;

const commands: Record<string, string> = {
  serve: "run a health server: named services, or a sidecar whose -check flags drive them",
  check: "check a service's health (grpc_health_probe-compatible flags and exit codes)",
  watch: "print every status change until interrupted",
  list: "list every service's status",
  decode: "decode captured envelopes (hex, base64 or raw) to JSON",
  status: "show each status with its reason (admin surface)",
  drain: "drain a server: every status NOT_SERVING until resumed (admin surface)",
  resume: "resume a drained server (admin surface)",
  set: "set one service's status (admin surface)",
  proxy: "forward calls to healthy upstreams",
  tap: "pass calls through to one upstream, printing each one decoded",
  discover: "list a service's providers in a ZooKeeper registry with their health",
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, text]) => `  ${name.padEnd(8)} ${text}`);
  return (
    `usage: triple-health <command> [flags]\n\ncommands:\n${lines.join("\n")}\n\n` +
    "triple-health <command> -h shows a command's flags and exit codes; triple-health --version its version.\n"
  );
}

/** Edit distance (insertions, deletions, substitutions, adjacent swaps) between two short words. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** The command a typo most likely meant (within 2 edits), if one is that close. @internal */
export function closestCommand(word: string): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const name of Object.keys(commands)) {
    const distance = editDistance(word.toLowerCase(), name);
    if (distance <= 2 && (best === undefined || distance < best.distance)) best = { name, distance };
  }
  return best?.name;
}

const helpWords = new Set(["help", "-h", "-help", "--help"]);
const versionWords = new Set(["version", "-version", "--version"]);

/** Runs `triple-health <command> ...args`; resolves to the exit code. @internal */
export async function main(argv: string[], io: CommandIo): Promise<number> {
  let [name, ...args] = argv;
  if (name !== undefined && versionWords.has(name)) {
    io.stdout.write(`${packageVersion()}\n`);
    return ExitCode.Ok;
  }
  // `triple-health help check` is `triple-health check --help`; `help nope` is an unknown command.
  if (name !== undefined && helpWords.has(name) && args[0] !== undefined) {
    [name, args] = [args[0], ["--help"]];
  }
  if (name === undefined || helpWords.has(name)) {
    (name === undefined ? io.stderr : io.stdout).write(usage());
    return name === undefined ? ExitCode.InvalidArguments : ExitCode.Ok;
  }
  if (!Object.hasOwn(commands, name)) {
    const near = closestCommand(name);
    const hint = near === undefined ? "" : `: did you mean ${near}?`;
    io.stderr.write(`triple-health: unknown command '${name}'${hint}\n\n${usage()}`);
    return ExitCode.InvalidArguments;
  }
  // Loaded on demand so `check` in a probe does not pay for the proxy or the server.
  const extension = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
  const module = (await import(new URL(`./commands/${name}${extension}`, import.meta.url).href)) as {
    run: CommandRun;
  };
  return module.run(args, io);
}

/**
 * True when this module is the process's entry point. npm runs the bin through a symlink
 * (`node_modules/.bin/triple-health`, `npx`, a global install): `process.argv[1]` is the link, while
 * `import.meta.url` is the file it points to, so the link is resolved before comparing. Comparing the two
 * as they come made the installed bin do nothing and exit 0 — a probe that always passes.
 * @internal
 */
export function isEntryPoint(argv1: string | undefined, moduleUrl: string): boolean {
  if (argv1 === undefined) return false;
  let entry: string;
  try {
    entry = realpathSync(argv1);
  } catch {
    return false;
  }
  return entry === realpathSync(fileURLToPath(moduleUrl));
}

/* c8 ignore start: the process entry point; tests call main() or spawn this file */
if (isEntryPoint(process.argv[1], import.meta.url)) {
  // Node 22.1+: cache the compiled code of the modules loaded from here on (the command's) on disk, so a
  // probe run every few seconds does not compile them again each time. Absent on Node 20; a cache it
  // cannot write (read-only file system) only costs the compile, as without it.
  (nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();
  const io: CommandIo = {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    exit: (code) => process.exit(code),
  };
  main(process.argv.slice(2), io).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`triple-health: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
/* c8 ignore stop */
