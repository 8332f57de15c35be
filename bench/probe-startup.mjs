// What one `triple-health check` costs a probe's process, beside a bare `node -e 0` on the same node: CPU time
// (user + system) and peak RSS of each child, from /usr/bin/time, the two spawned alternately so machine load
// falls on both alike; medians of N runs each. The check runs against a closed port on 127.0.0.1 (connection
// refused at once, exit 2), so what is measured is loading the command, not waiting on a server.
// `npm run build && node bench/probe-startup.mjs [--runs=20] [--node=/path/to/node]`.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { parseOptions, usage } from "./lib/args.mjs";

const spec = {
  runs: { default: 20, help: "runs of each" },
  node: { default: process.execPath, help: "the node binary to measure (both children use it)" },
};
const options = parseOptions(spec);
if (options.help) {
  process.stdout.write(usage("node bench/probe-startup.mjs", spec));
  process.exit(0);
}
const main = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));
if (!existsSync(main)) throw new Error("no dist/cli/main.js: run npm run build first");
if (!existsSync("/usr/bin/time")) throw new Error("needs /usr/bin/time (apt-get install time)");

const closedPort = await new Promise((resolve) => {
  const server = createServer().listen(0, "127.0.0.1", () => {
    const { port } = server.address();
    server.close(() => resolve(port));
  });
});

/** CPU seconds (user + system) and max RSS (KiB) of one child. */
function measure(args) {
  const run = spawnSync("/usr/bin/time", ["-f", "@@ %U %S %M", options.node, ...args], { encoding: "utf8" });
  const line = run.stderr.split("\n").find((l) => l.startsWith("@@ "));
  if (line === undefined) throw new Error(`no /usr/bin/time line: ${run.stderr}`);
  const [, user, sys, rss] = line.split(" ").map(Number);
  return { cpu: user + sys, rss };
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

const bare = [];
const check = [];
for (let i = 0; i < options.runs; i++) {
  bare.push(measure(["-e", "0"]));
  check.push(measure([main, "check", "-addr", `127.0.0.1:${closedPort}`]));
}
const version = spawnSync(options.node, ["-v"], { encoding: "utf8" }).stdout.trim();
const row = (name, runs) => ({
  name,
  cpuMs: Math.round(median(runs.map((r) => r.cpu)) * 1000),
  rssMiB: Math.round(median(runs.map((r) => r.rss)) / 102.4) / 10,
});
const b = row("node -e 0", bare);
const c = row("triple-health check", check);
const result = {
  bench: "probe-startup",
  node: version,
  runs: options.runs,
  bare: b,
  check: c,
  cpuRatio: Math.round((c.cpuMs / b.cpuMs) * 100) / 100,
  rssRatio: Math.round((c.rssMiB / b.rssMiB) * 100) / 100,
  load: (await import("node:os")).loadavg()[0],
};
process.stdout.write(`${JSON.stringify(result)}\n`);
