import type { HealthRegistry } from "./registry.ts";

/** Anything with a graceful close, such as `TripleServer`. */
export interface GracefullyClosable {
  /** Stops taking new work and finishes what is in flight within `graceMs`. */
  close(options?: { graceMs?: number }): Promise<void> | void;
}

/** Options of {@link installSignalHandlers}: what to drain and close, how long to wait, how to exit. */
export interface SignalHandlerOptions {
  /** Drained at the first signal, so every status reads NOT_SERVING. */
  registry: HealthRegistry;
  /**
   * Run at the signal before the drain: where a server leaves its registries, so that consumers stop
   * picking it before it turns NOT_SERVING (Dubbo's order). A rejection is logged; the drain goes on.
   */
  beforeDrain?: () => Promise<void>;
  /** Closed gracefully after the drain delay; omit to only drain and exit. */
  server?: GracefullyClosable;
  /**
   * How long to stay up drained (everything NOT_SERVING) before closing, so load balancers, Kubernetes
   * endpoints and Watch clients notice and stop sending new calls. Default 5,000 ms; keep
   * `delayMs + graceMs` under the pod's `terminationGracePeriodSeconds`.
   */
  delayMs?: number;
  /** Passed to the server's `close({ graceMs })`: how long in-flight calls may still run. */
  graceMs?: number;
  /** Default `["SIGTERM", "SIGINT"]`. */
  signals?: readonly NodeJS.Signals[];
  /** Ends the process; `process.exit` by default. */
  exit?: (code: number) => void;
  /** One line per step; to stderr by default. */
  log?: (line: string) => void;
  /** Words the first line, logged at the signal; default `<signal>: draining, closing in <delayMs> ms`. */
  shutdownLine?: (reason: string) => string;
}

/** What {@link installSignalHandlers} returns: a way to take the handlers back, or to shut down now. */
export interface SignalHandlers {
  /** Removes the signal listeners (a shutdown under way goes on). */
  uninstall(): void;
  /** Runs the same sequence as a signal would: drain, wait, close, exit. Resolves once exit was called. */
  shutdown(reason?: string): Promise<void>;
}

/**
 * Opt-in graceful termination: on the first SIGTERM/SIGINT the registry drains (every status
 * NOT_SERVING, as grpc-go's `Shutdown()`), the process waits `delayMs` so balancers and watchers see it,
 * then closes the server gracefully and exits with code 0 (1 if the close failed). A second signal
 * during that sequence exits at once with code 1.
 */
export function installSignalHandlers(options: SignalHandlerOptions): SignalHandlers {
  const { registry, server } = options;
  const delayMs = options.delayMs ?? 5_000;
  const signals = options.signals ?? ["SIGTERM", "SIGINT"];
  /* c8 ignore next 3: the defaults end the real process; tests (and the child-process test) pass their own or use these */
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const log = options.log ?? ((line: string) => void process.stderr.write(`triple-health: ${line}\n`));
  let running: Promise<void> | undefined;

  const sequence = async (reason: string): Promise<void> => {
    log(options.shutdownLine?.(reason) ?? `${reason}: draining, closing in ${delayMs} ms`);
    // Only awaited when given: without it, the drain happens at the signal, synchronously.
    if (options.beforeDrain !== undefined) {
      try {
        await options.beforeDrain();
      } catch (error) {
        log(`unregister failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    registry.drain(reason);
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    try {
      await server?.close(options.graceMs === undefined ? {} : { graceMs: options.graceMs });
    } catch (error) {
      log(`close failed: ${error instanceof Error ? error.message : String(error)}`);
      registry.shutdown(reason);
      exit(1);
      return;
    }
    registry.shutdown(reason);
    log("closed");
    exit(0);
  };

  const shutdown = (reason = "shutdown"): Promise<void> => {
    running ??= sequence(reason);
    return running;
  };

  const onSignal = (signal: NodeJS.Signals): void => {
    if (running !== undefined) {
      log(`${signal} again: exiting now`);
      exit(1);
      return;
    }
    void shutdown(signal);
  };
  for (const signal of signals) process.on(signal, onSignal);

  return {
    uninstall() {
      for (const signal of signals) process.off(signal, onSignal);
    },
    shutdown,
  };
}
