// What one `triple-health check` costs a probe's process, beside a bare `node -e 0` on the same node: CPU time
// (user + system) and peak RSS of each child, from /usr/bin/time, the two spawned alternately so machine load
// falls on both alike; medians of N runs each. The check asks a real server (examples/server.mjs, started by
// this script as a child on the same node binary and port 0) and must print `status: SERVING` and exit 0
// every time; the server's own CPU is its process's, not the check's. A second row checks a closed port
// (connection refused at once, exit 2): start-up without the call. A third, `node -e "require('node:http2')"`,
// is the floor no HTTP/2 client on node:http2 gets under.
// `npm run build && node bench/probe-startup.mjs [--runs=20] [--node=/path/to/node]`.
import { spawn, spawnSync } from "node:child_process";
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

// The server: spawned (not in this process, whose event loop spawnSync blocks while a check runs).
const server = spawn(options.node, [fileURLToPath(new URL("../examples/server.mjs", import.meta.url)), "0"], {
  stdio: ["ignore", "pipe", "inherit"],
});
const serverAddress = await new Promise((resolve, reject) => {
  let out = "";
  server.once("error", reject);
  server.once("exit", (code) => reject(new Error(`examples/server.mjs exited (${code}) before listening`)));
  server.stdout.on("data", (chunk) => {
    out += chunk;
    const match = /listening on (\S+)/.exec(out);
    if (match !== null) resolve(match[1]);
  });
});
server.removeAllListeners("exit");

const closedPort = await new Promise((resolve) => {
  const server = createServer().listen(0, "127.0.0.1", () => {
    const { port } = server.address();
    server.close(() => resolve(port));
  });
});

/** CPU seconds (user + system) and max RSS (KiB) of one child, which must exit with `exitCode`. */
function measure(args, exitCode = 0) {
  const run = spawnSync("/usr/bin/time", ["-f", "@@ %U %S %M", options.node, ...args], { encoding: "utf8" });
  const line = run.stderr.split("\n").find((l) => l.startsWith("@@ "));
  if (line === undefined) throw new Error(`no /usr/bin/time line: ${run.stderr}`);
  if (run.status !== exitCode) {
    throw new Error(`${args.join(" ")}: exit ${run.status}, want ${exitCode}: ${run.stdout}${run.stderr}`);
  }
  if (exitCode === 0 && args[1] === "check" && run.stdout !== "status: SERVING\n") {
    throw new Error(`check printed ${JSON.stringify(run.stdout)}, want "status: SERVING"`);
  }
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
const refused = [];
const http2 = [];
try {
  for (let i = 0; i < options.runs; i++) {
    bare.push(measure(["-e", "0"]));
    check.push(measure([main, "check", "-addr", serverAddress]));
    refused.push(measure([main, "check", "-addr", `127.0.0.1:${closedPort}`], 2));
    http2.push(measure(["-e", "require('node:http2')"]));
  }
} finally {
  server.kill("SIGTERM");
}
const version = spawnSync(options.node, ["-v"], { encoding: "utf8" }).stdout.trim();
const row = (name, runs) => ({
  name,
  cpuMs: Math.round(median(runs.map((r) => r.cpu)) * 1000),
  rssMiB: Math.round(median(runs.map((r) => r.rss)) / 102.4) / 10,
});
const b = row("node -e 0", bare);
const c = row("triple-health check (SERVING)", check);
const r = row("triple-health check (refused)", refused);
const h = row("node -e \"require('node:http2')\"", http2);
const result = {
  bench: "probe-startup",
  node: version,
  runs: options.runs,
  bare: b,
  check: c,
  refused: r,
  http2: h,
  cpuRatio: Math.round((c.cpuMs / b.cpuMs) * 100) / 100,
  rssRatio: Math.round((c.rssMiB / b.rssMiB) * 100) / 100,
  http2CpuRatio: Math.round((h.cpuMs / b.cpuMs) * 100) / 100,
  http2RssRatio: Math.round((h.rssMiB / b.rssMiB) * 100) / 100,
  load: (await import("node:os")).loadavg()[0],
};
process.stdout.write(`${JSON.stringify(result)}\n`);
