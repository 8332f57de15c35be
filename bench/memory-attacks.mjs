// Memory attacks, one at a time, each against a fresh server (bench/servers/ours.mjs, in its own process with
// --expose-gc): the server's RSS before (after GC), during (the most /proc/PID/status VmRSS read every 100 ms)
// and after (attacker gone, after GC), and whether a Check on another connection is answered meanwhile.
// Prints a markdown table on stderr and one JSON line per attack on stdout; exits 1 when a Check failed or
// RSS grew by more than --max-growth-mb during an attack.
//
//   npm run bench:memory                                        (every attack, default budgets, dist/)
//   npm run bench:memory -- --attacks=partial-bodies --max-connection-buffered=0 --max-process-buffered=0
//                                                               (the same with the budgets off: the "before")
import { readFileSync } from "node:fs";
import { parseOptions, usage } from "./lib/args.mjs";
import { attackers, freshCheck } from "./lib/attackers.mjs";
import { startChild } from "./lib/children.mjs";
import { markdownTable } from "./lib/report.mjs";

const spec = {
  attacks: { default: Object.keys(attackers).join(","), help: "comma-separated attacks to run" },
  seconds: { default: 8, help: "how long each attack holds the server" },
  connections: { default: 2, help: "attacking connections (idle-connections: x500)" },
  streams: { default: 100, help: "streams per attacking connection" },
  bytes: { default: 2 << 20, help: "partial-bodies: bytes each stream sends of its 4 MiB message" },
  "max-connection-buffered": { default: "", help: "the server's per-connection budget (default: its own)" },
  "max-process-buffered": { default: "", help: "the server's per-port budget (default: its own)" },
  "max-growth-mb": { default: 128, help: "allowed RSS growth during an attack, MiB" },
  from: { default: "dist", help: "load the server from dist (built) or src (needs a TypeScript loader)" },
};

const options = parseOptions(spec);
if (options.help) {
  process.stdout.write(
    `${usage("npm run bench:memory -- [flags]: server RSS under memory attacks", spec)}\n`,
  );
  process.exit(0);
}

const mib = (bytes) => Math.round((bytes / 1048576) * 10) / 10;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** VmRSS of a process, bytes (Linux); undefined elsewhere. */
function vmRss(pid) {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match === null ? undefined : Number(match[1]) * 1024;
  } catch {
    return undefined;
  }
}

function serverArgs() {
  const args = [`--from=${options.from}`];
  if (options["max-connection-buffered"] !== "")
    args.push(`--max-connection-buffered=${options["max-connection-buffered"]}`);
  if (options["max-process-buffered"] !== "")
    args.push(`--max-process-buffered=${options["max-process-buffered"]}`);
  return args;
}

function attackOptions(name) {
  if (name === "idle-connections") return { connections: options.connections * 500 };
  const common = { connections: options.connections, streams: options.streams };
  return name === "partial-bodies" ? { ...common, bytes: options.bytes } : common;
}

async function run(name) {
  const server = startChild(new URL("./servers/ours.mjs", import.meta.url).pathname, {
    nodeArgs: ["--expose-gc"],
    inheritExecArgv: options.from === "src",
    args: serverArgs(),
  });
  const { h2: port, pid } = await server.ready;
  const problems = [];
  try {
    // Warm up (first Checks load the code), then the baseline.
    for (let i = 0; i < 20; i++) {
      const problem = await freshCheck(port);
      if (problem !== undefined) problems.push(`warm-up ${problem}`);
    }
    const before = await server.request({ cmd: "mem" });
    let max = before.rss;
    let maxBuffers = before.arrayBuffers;
    let maxHeap = before.heapUsed;
    const sampler = setInterval(() => {
      max = Math.max(max, vmRss(pid) ?? 0);
    }, 100);
    const attack = attackers[name](port, attackOptions(name));
    const started = Date.now();
    const checks = [];
    while (Date.now() - started < options.seconds * 1000) {
      await sleep(Math.min(1000, options.seconds * 500));
      const mem = await server.request({ cmd: "rss" });
      max = Math.max(max, mem.rss ?? 0);
      maxBuffers = Math.max(maxBuffers, mem.arrayBuffers ?? 0);
      maxHeap = Math.max(maxHeap, mem.heapUsed ?? 0);
      checks.push(freshCheck(port));
    }
    for (const problem of await Promise.all(checks))
      if (problem !== undefined) problems.push(`check during the attack: ${problem}`);
    await attack.stop();
    clearInterval(sampler);
    // Let the server see every reset and closed socket.
    await sleep(1000);
    const after = await server.request({ cmd: "mem" });
    const afterCheck = await freshCheck(port);
    if (afterCheck !== undefined) problems.push(`check after the attack: ${afterCheck}`);
    const growth = max - before.rss;
    if (growth > options["max-growth-mb"] * 1048576)
      problems.push(`RSS grew ${mib(growth)} MiB (> ${options["max-growth-mb"]})`);
    return {
      bench: "memory-attacks",
      attack: name,
      from: options.from,
      seconds: options.seconds,
      options: attackOptions(name),
      rssBeforeMiB: mib(before.rss),
      rssMaxMiB: mib(max),
      rssAfterMiB: mib(after.rss),
      heapBeforeMiB: mib(before.heapUsed),
      heapMaxMiB: mib(maxHeap),
      heapAfterMiB: mib(after.heapUsed),
      arrayBuffersMaxMiB: mib(maxBuffers),
      attacker: attack.stats,
      checks: checks.length + 1,
      problems,
    };
  } finally {
    await server.stop();
  }
}

const results = [];
for (const name of options.attacks.split(",")) {
  if (attackers[name] === undefined) throw new Error(`unknown attack ${name}`);
  const result = await run(name);
  results.push(result);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
const budgets = `per connection ${options["max-connection-buffered"] || "default"}, per port ${options["max-process-buffered"] || "default"}`;
process.stderr.write(
  `server RSS under memory attacks (${options.from}, budgets ${budgets}; the machine may be shared)\n` +
    markdownTable(
      ["attack", "RSS before", "RSS during (max)", "RSS after", "checks", "problems"],
      results.map((r) => [
        r.attack,
        `${r.rssBeforeMiB} MiB`,
        `${r.rssMaxMiB} MiB`,
        `${r.rssAfterMiB} MiB`,
        String(r.checks),
        r.problems.join("; ") || "none",
      ]),
    ) +
    "\n",
);
process.exitCode = results.some((r) => r.problems.length > 0) ? 1 : 0;
