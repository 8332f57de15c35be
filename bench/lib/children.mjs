// The parent side: spawns servers and clients in their own processes (pinned to a CPU with taskset when
// it is there), reads their JSON-line announcements and talks to them in JSON lines.
import { spawn, spawnSync } from "node:child_process";
import { createInterface } from "node:readline";

let tasksetChecked;
/** Whether `taskset` can pin processes here. */
export function canPin() {
  tasksetChecked ??= spawnSync("taskset", ["-c", "0", "true"]).status === 0;
  return tasksetChecked;
}

/** `[command, args]` for running `command args` on one CPU (or unpinned when cpu is undefined). */
export function pinned(cpu, command, args) {
  if (cpu === undefined || !canPin()) return [command, args];
  return ["taskset", ["-c", String(cpu), command, ...args]];
}

/**
 * Starts a node script as a child speaking the server-child protocol.
 * @param {string} script path of the .mjs file
 * `inheritExecArgv` passes this process's node flags on (a TypeScript loader, for a child that imports src/);
 * off by default, since loaders and coverage hooks cost every child seconds of start-up.
 * @param {{ cpu?: number, args?: string[], nodeArgs?: string[], inheritExecArgv?: boolean,
 *   env?: Record<string,string>, readyTimeoutMs?: number }} opts
 */
export function startChild(script, opts = {}) {
  const nodeArgs = [...(opts.inheritExecArgv ? process.execArgv : []), ...(opts.nodeArgs ?? [])];
  const [command, args] = pinned(opts.cpu, process.execPath, [...nodeArgs, script, ...(opts.args ?? [])]);
  const child = spawn(command, args, {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, ...opts.env },
  });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => {
    stderr = (stderr + chunk).slice(-8000);
  });
  const pending = new Map();
  let nextId = 1;
  let onReady;
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  const ready = new Promise((resolve, reject) => {
    onReady = (message) => {
      clearTimeout(timer);
      resolve(message);
    };
    const timer = setTimeout(
      () =>
        reject(new Error(`${script}: no ready line within ${opts.readyTimeoutMs ?? 30000} ms\n${stderr}`)),
      opts.readyTimeoutMs ?? 30000,
    );
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited (${code ?? signal}) before it was ready\n${stderr}`));
    });
  });
  createInterface({ input: child.stdout }).on("line", (line) => {
    let message;
    try {
      message = JSON.parse(line);
    } catch {
      return; // a stray log line
    }
    if (message.ready) onReady(message);
    else if (message.id !== undefined && pending.has(message.id)) {
      pending.get(message.id)(message);
      pending.delete(message.id);
    } else handle.onMessage?.(message);
  });
  exited.then(({ code, signal }) => {
    for (const resolve of pending.values()) resolve({ error: `child exited (${code ?? signal})\n${stderr}` });
    pending.clear();
  });
  const handle = {
    child,
    ready,
    exited,
    get stderr() {
      return stderr;
    },
    /** @type {((message: object) => void) | undefined} unsolicited lines */
    onMessage: undefined,
    /** Sends a command and resolves with the reply carrying the same id. */
    request(command) {
      const id = nextId++;
      return new Promise((resolve) => {
        pending.set(id, resolve);
        child.stdin.write(JSON.stringify({ ...command, id }) + "\n");
      });
    },
    /** Asks the child to exit, then kills it if it lingers. */
    async stop(graceMs = 10000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.stdin.end();
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
  return handle;
}
