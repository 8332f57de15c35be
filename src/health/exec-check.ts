import { spawn } from "node:child_process";
import { ConfigError } from "../wire/config-error.ts";
import type { CheckProbe } from "./checks.ts";

/** Options of {@link execCheck}: the command to run and what is kept of its output. */
export interface ExecCheckOptions {
  /**
   * The program and its arguments, run without a shell, as a Kubernetes exec probe's `command`; for shell
   * syntax (pipes, `&&`, variables), run the shell: `["/bin/sh", "-c", "test -f /tmp/ready && …"]`.
   */
  command: readonly string[];
  /** The environment of the command; this process's by default. */
  env?: NodeJS.ProcessEnv;
  /** Its working directory; this process's by default. */
  cwd?: string;
  /**
   * Output (stdout and stderr together) kept for the failure reason; the rest is read and dropped, so a
   * chatty command neither blocks on a full pipe nor grows this process. Default 4,096 bytes.
   */
  maxOutputBytes?: number;
  /** The check's name. Default `exec <command>`. */
  name?: string;
}

/** Default {@link ExecCheckOptions.maxOutputBytes}. */
export const defaultExecOutputBytes = 4096;

/**
 * A command exits with code 0 (a Kubernetes exec probe). Each attempt spawns it in a process group of its
 * own, so at the timeout (or when the runner stops) the whole group is killed with SIGKILL: a shell and
 * what it started, not only the shell. A failure's reason is the exit code or signal and the start of
 * its output. POSIX only (process groups).
 */
export function execCheck(options: ExecCheckOptions): CheckProbe {
  const [file, ...args] = options.command;
  if (file === undefined || file === "") throw new ConfigError("execCheck: the command is empty");
  const maxOutputBytes = options.maxOutputBytes ?? defaultExecOutputBytes;
  if (!(Number.isInteger(maxOutputBytes) && maxOutputBytes >= 0))
    throw new ConfigError("execCheck: maxOutputBytes must be a whole number ≥ 0");
  return {
    name: options.name ?? `exec ${options.command.join(" ")}`,
    run: (signal) =>
      new Promise<void>((resolve, reject) => {
        if (signal.aborted) {
          reject(signal.reason);
          return;
        }
        const child = spawn(file, args, {
          cwd: options.cwd,
          env: options.env,
          stdio: ["ignore", "pipe", "pipe"],
          // Its own process group (setsid), so killing -pid reaches everything the command started.
          detached: true,
        });
        const kept: Buffer[] = [];
        let keptBytes = 0;
        const keep = (chunk: Buffer): void => {
          if (keptBytes >= maxOutputBytes) return;
          const part = chunk.subarray(0, maxOutputBytes - keptBytes);
          kept.push(part);
          keptBytes += part.length;
        };
        child.stdout.on("data", keep);
        child.stderr.on("data", keep);
        let settled = false;
        const finish = (error: Error | undefined): void => {
          if (settled) return;
          settled = true;
          signal.removeEventListener("abort", onAbort);
          if (error === undefined) resolve();
          else reject(error);
        };
        const onAbort = (): void => {
          killGroup(child.pid);
          finish(signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason)));
        };
        signal.addEventListener("abort", onAbort, { once: true });
        child.once("error", (error: NodeJS.ErrnoException) => {
          finish(new Error(`exec ${file}: ${error.code ?? error.message}`));
        });
        // "close", not "exit": the output is all read by then, and a leftover process still holding the
        // pipes keeps the attempt running until the timeout kills its group.
        child.once("close", (code, killedBy) => {
          if (code === 0) return finish(undefined);
          const how = code === null ? `killed by ${killedBy}` : `exit code ${code}`;
          const output = Buffer.concat(kept).toString("utf8").replace(/\s+/g, " ").trim();
          finish(new Error(output === "" ? how : `${how}: ${output}`));
        });
      }),
  };
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // The group is gone already: the command ended as the timeout fired.
  }
}
