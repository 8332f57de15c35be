// The commands that run until stopped (serve, proxy, tap): listening, and SIGINT/SIGTERM, which drain and close
// through installSignalHandlers (the library's own sequence); watch ends its stream.
import type { HealthRegistry } from "../health/registry.ts";
import { installSignalHandlers } from "../health/signals.ts";
import { CommandError, ExitCode } from "./command.ts";
import { formatDuration } from "./flags.ts";
import type { CommandIo } from "./main.ts";

const stopSignals: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM"];

/** A server or proxy as serve and proxy hold it: the registry its Health answers from, and its close. @internal */
export interface StoppableHost {
  readonly health: HealthRegistry;
  /** Leaves every registry; run at the signal before the drain (Dubbo's order). */
  unregister?(): Promise<void>;
  close(options?: { graceMs?: number }): Promise<void>;
}

/**
 * Listens `host` on `address`, resolving to what it bound (an IPv6 host in brackets, ready for a URL); when it
 * cannot, closes it and throws exit 2, a network failure as for the client commands. @internal
 */
export async function listenOrFail(
  host: StoppableHost & { listen(port: number, host: string): Promise<{ port: number; host: string }> },
  address: { host: string; port: number },
): Promise<{ host: string; port: number }> {
  let bound: { port: number; host: string };
  try {
    bound = await host.listen(address.port, address.host);
  } catch (error) {
    await host.close({ graceMs: 0 });
    throw new CommandError(
      ExitCode.ConnectionFailure,
      `cannot listen on ${address.host}:${address.port}: ${(error as Error).message}`,
    );
  }
  return { host: bound.host.includes(":") ? `[${bound.host}]` : bound.host, port: bound.port };
}

/**
 * Runs `host` until SIGINT/SIGTERM, then drains it, waits `drainDelayMs`, closes it with `graceMs` for the
 * calls in flight; resolves to the exit code (0, or 1 when the close failed). Lines go to stdout with
 * `prefix`. A second signal during the close exits at once with 1, through `io.exit` when there is one.
 * @internal
 */
export function serveUntilStopped(
  host: StoppableHost,
  io: CommandIo,
  options: { prefix: string; graceMs: number; drainDelayMs?: number },
): Promise<number> {
  const { prefix, graceMs } = options;
  return new Promise((resolve) => {
    let closed = false;
    const handlers = installSignalHandlers({
      registry: host.health,
      ...(host.unregister === undefined ? {} : { beforeDrain: () => host.unregister!() }),
      server: {
        close: (closeOptions) =>
          host.close(closeOptions).finally(() => {
            closed = true;
          }),
      },
      delayMs: options.drainDelayMs ?? 0,
      graceMs,
      signals: stopSignals,
      shutdownLine: (signal) => `${signal}, closing (grace ${formatDuration(graceMs)})`,
      log: (line) => io.stdout.write(`${prefix}${line}\n`),
      exit: (code) => {
        handlers.uninstall();
        /* c8 ignore next: the second signal's exit, which ends the process (the signals test covers it) */
        if (!closed) io.exit?.(code);
        resolve(code);
      },
    });
  });
}

/**
 * An AbortSignal that aborts at SIGINT/SIGTERM, for a command that stops its call and exits 0; `release`
 * takes the listeners back.
 * @internal
 */
export function abortOnStopSignals(): { signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  for (const name of stopSignals) process.once(name, stop);
  return {
    signal: controller.signal,
    release() {
      for (const name of stopSignals) process.off(name, stop);
    },
  };
}
