// The child side of a server under test: announces its ports on stdout as one JSON line, then answers
// JSON-line commands on stdin (CPU time, memory after GC or RSS as is, a heap snapshot, flipping the bench
// service's status, exit).
// Clock values are process.hrtime (CLOCK_MONOTONIC), comparable between processes on one machine.
import { createInterface } from "node:readline";

/**
 * @param {{ name: string, ports: { h2?: number, h1?: number }, setStatus?: (status: string) => void,
 *   close?: () => Promise<void> | void }} server
 */
export function runServerChild(server) {
  const reply = (message) => process.stdout.write(JSON.stringify(message) + "\n");
  const exit = async () => {
    try {
      // A lingering client connection must not keep the child alive.
      await Promise.race([server.close?.(), new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
    } finally {
      // process.exit (not a signal) so that --cpu-prof writes its profile.
      process.exit(0);
    }
  };
  createInterface({ input: process.stdin }).on("line", (line) => {
    const command = JSON.parse(line);
    const { id } = command;
    switch (command.cmd) {
      case "cpu": {
        const { user, system } = process.cpuUsage();
        reply({ id, cpuMicros: user + system });
        break;
      }
      case "mem": {
        // Two passes: the first may only schedule finalizers.
        globalThis.gc?.();
        globalThis.gc?.();
        const { rss, heapTotal, heapUsed, external, arrayBuffers } = process.memoryUsage();
        reply({
          id,
          rss,
          heapTotal,
          heapUsed,
          external,
          arrayBuffers,
          gc: typeof globalThis.gc === "function",
        });
        break;
      }
      case "rss": {
        // Without a GC: what the process holds right now (sampled during a load).
        const { rss, heapUsed, arrayBuffers } = process.memoryUsage();
        reply({ id, rss, heapUsed, arrayBuffers });
        break;
      }
      case "set": {
        const t0 = process.hrtime.bigint();
        server.setStatus?.(command.status);
        // t1: when the synchronous part of the flip returned (for servers that write to every watcher in a loop,
        // the time spent queueing the writes).
        reply({ id, t0: t0.toString(), t1: process.hrtime.bigint().toString() });
        break;
      }
      case "heap": {
        // A heap snapshot after GC, written to command.path (bench/watch-heap.mjs reads it).
        globalThis.gc?.();
        globalThis.gc?.();
        import("node:v8").then((v8) => reply({ id, path: v8.writeHeapSnapshot(command.path) }));
        break;
      }
      case "exit":
        void exit();
        break;
      default:
        reply({ id, error: `unknown command ${command.cmd}` });
    }
  });
  process.stdin.on("end", () => void exit());
  reply({ ready: true, name: server.name, pid: process.pid, ...server.ports });
}

/** Named flags `--key=value` / `--key value` of a child's argv. */
export function childFlag(name, fallback) {
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === `--${name}`) return args[i + 1] ?? fallback;
    if (arg.startsWith(`--${name}=`)) return arg.slice(name.length + 3);
  }
  return fallback;
}
