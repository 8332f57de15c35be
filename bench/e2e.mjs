// End-to-end Check benchmark: this project's server against grpc-js (+ grpc-health-check), connect-node 1.7 and
// bare node:http2 / node:http ceilings, each in its own process, loaded in turn (interleaved rounds, medians)
// by h2load (HTTP/2) and wrk (HTTP/1.1). Prints a markdown table, then one JSON line per case and server.
// Run `node bench/e2e.mjs --help` for the flags.
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseOptions, usage } from "./lib/args.mjs";
import { canPin, startChild } from "./lib/children.mjs";
import { selfTimeByArea, topSelfTime } from "./lib/cpu-profile.mjs";
import { cases } from "./lib/health-bytes.mjs";
import { runH2load, runWrk } from "./lib/loaders.mjs";
import { probe } from "./lib/probe.mjs";
import { formatCount, formatMs, formatRatio, markdownTable } from "./lib/report.mjs";
import { median } from "./lib/stats.mjs";

const spec = {
  duration: { default: 5, help: "seconds of measured load per run" },
  warmup: { default: 1, help: "seconds of unrecorded load before each run" },
  connections: { default: 8, help: "h2load connections (-c)" },
  streams: { default: 16, help: "h2load concurrent streams per connection (-m)" },
  "h1-connections": { default: 32, help: "wrk connections (one request in flight each)" },
  rounds: { default: 3, help: "interleaved rounds (A B C, C B A, …); the table shows medians" },
  cases: { default: cases.map((c) => c.id), help: "comma-separated cases" },
  servers: { default: ["ours", "grpc-js", "connect", "ceiling"], help: "comma-separated servers" },
  "ours-metrics": {
    default: false,
    help: "run our server with metrics on (call counters and latency histogram per route, as serve -metrics does)",
  },
  "ours-from": {
    default: "dist",
    help: "load our server from dist (built) or src (needs a TypeScript loader)",
  },
  "server-cpu": { default: 0, help: "CPU the servers are pinned to (taskset)" },
  "loader-cpu": { default: 1, help: "CPU h2load/wrk are pinned to (taskset)" },
  pin: { default: true, help: "pin with taskset when available (--no-pin to turn off)" },
  profile: {
    default: [],
    help: "servers to run under node --cpu-prof (e.g. ours,ceiling-h2); prints their top self-time functions",
  },
  "json-out": { default: "", help: "also write the JSON lines to this file" },
  requests: {
    default: 0,
    help: "h2load: a fixed request count instead of --duration (0 = use the duration)",
  },
  smoke: { default: false, help: "tiny run for the test suite: 1 round, h2load -n 200, wrk 1 s, no warm-up" },
};

const servers = {
  ours: { label: "triple-health", script: "servers/ours.mjs", all: true },
  "grpc-js": { label: "grpc-js", script: "servers/grpc-js.mjs", only: ["grpc-h2c"], why: "gRPC only" },
  connect: { label: "connect-node", script: "servers/connect.mjs", all: true },
  "ceiling-h2": { label: "ceiling node:http2", script: "servers/ceiling-h2.mjs", http: "2" },
  "ceiling-h1": { label: "ceiling node:http", script: "servers/ceiling-h1.mjs", http: "1.1" },
};
const peers = ["grpc-js", "connect"];

function serves(id, testCase) {
  const server = servers[id];
  if (server.only) return server.only.includes(testCase.id);
  if (server.http) return server.http === testCase.http;
  return true;
}

const here = fileURLToPath(new URL(".", import.meta.url));

async function main() {
  const options = parseOptions(spec);
  if (options.help) {
    console.log(usage("node bench/e2e.mjs [flags]", spec));
    return 0;
  }
  if (options.smoke) Object.assign(options, { duration: 1, warmup: 0, rounds: 1, requests: 200 });
  const selectedCases = options.cases.map((id) => {
    const found = cases.find((c) => c.id === id);
    if (!found) throw new Error(`unknown case ${id}; known: ${cases.map((c) => c.id).join(", ")}`);
    return found;
  });
  const ids = options.servers.flatMap((id) => (id === "ceiling" ? ["ceiling-h2", "ceiling-h1"] : [id]));
  for (const id of ids) if (!servers[id]) throw new Error(`unknown server ${id}`);
  const serverCpu = options.pin ? options["server-cpu"] : undefined;
  const load = {
    duration: options.duration,
    warmup: options.warmup,
    connections: options.connections,
    streams: options.streams,
    h1Connections: options["h1-connections"],
    requests: options.requests,
    loaderCpu: options.pin ? options["loader-cpu"] : undefined,
  };
  const profileDir = options.profile.length > 0 ? mkdtempSync(join(tmpdir(), "bench-profile-")) : undefined;

  // Start every server at once; they idle while another one is loaded.
  const children = {};
  const startErrors = {};
  await Promise.all(
    ids.map(async (id) => {
      const nodeArgs = ["--expose-gc"];
      const args = [];
      if (id === "ours") args.push(`--from=${options["ours-from"]}`);
      if (id === "ours" && options["ours-metrics"]) args.push("--metrics=on");
      if (options.profile.includes(id)) nodeArgs.push("--cpu-prof", `--cpu-prof-dir=${join(profileDir, id)}`);
      const child = startChild(join(here, servers[id].script), {
        cpu: serverCpu,
        nodeArgs,
        args,
        inheritExecArgv: id === "ours" && options["ours-from"] === "src",
        readyTimeoutMs: 60000,
      });
      try {
        children[id] = { handle: child, ...(await child.ready) };
      } catch (error) {
        startErrors[id] = error.message;
        await child.stop(1000);
      }
    }),
  );

  const results = [];
  const failures = [];
  try {
    // Correctness first: one real request per pair; a wrong answer is never loaded.
    const runnable = new Map();
    for (const testCase of selectedCases) {
      const list = [];
      for (const id of ids.filter((id) => serves(id, testCase))) {
        if (startErrors[id]) {
          failures.push({ case: testCase.id, server: id, problems: [`did not start: ${startErrors[id]}`] });
          continue;
        }
        const child = children[id];
        const port = testCase.http === "2" ? child.h2 : child.h1;
        const problems = await probe(testCase, port);
        if (problems.length > 0) failures.push({ case: testCase.id, server: id, problems });
        else list.push({ id, port, child, rounds: [] });
      }
      runnable.set(testCase, list);
    }

    for (let round = 0; round < options.rounds; round++) {
      for (const testCase of selectedCases) {
        const list = runnable.get(testCase);
        // Alternate the order each round so that drift on the shared machine hits every server alike.
        const order = round % 2 === 0 ? list : [...list].reverse();
        for (const entry of order) {
          if (entry.broken) continue;
          let result;
          try {
            result = await loadOnce(testCase, entry, load);
          } catch (error) {
            // A loader that cannot run against one server (or a server that died) spoils only that row.
            entry.broken = true;
            failures.push({
              case: testCase.id,
              server: entry.id,
              problems: [`load failed: ${error.message}`],
            });
            continue;
          }
          entry.rounds.push(result);
          process.stderr.write(
            `round ${round + 1}/${options.rounds} ${testCase.id} ${entry.id}: ${formatCount(result.rps)} req/s, p99 ${formatMs(result.p99Ms)} ms\n`,
          );
        }
      }
    }

    for (const testCase of selectedCases) {
      for (const entry of runnable.get(testCase)) {
        if (entry.broken) continue;
        const pick = (key) => median(entry.rounds.map((r) => r[key]));
        const errors = entry.rounds.reduce((sum, r) => sum + r.failed + r.non2xx, 0);
        if (entry.rounds.some((r) => r.requests === 0))
          failures.push({ case: testCase.id, server: entry.id, problems: ["a run completed no request"] });
        if (errors > 0)
          failures.push({
            case: testCase.id,
            server: entry.id,
            problems: [`${errors} failed or non-2xx responses under load`],
          });
        results.push({
          case: testCase.id,
          server: entry.id,
          rps: pick("rps"),
          p50Ms: pick("p50Ms"),
          p99Ms: pick("p99Ms"),
          cpuMicrosPerRequest: pick("cpuMicrosPerRequest"),
          serverCpuUtilization: pick("serverCpuUtilization"),
          errors,
          rounds: entry.rounds,
        });
      }
    }
  } finally {
    await Promise.all(Object.values(children).map((child) => child.handle.stop()));
  }

  const environment = {
    node: process.version,
    cpu: cpus()[0]?.model ?? "unknown",
    cpus: cpus().length,
    pinned:
      options.pin && canPin() ? { servers: options["server-cpu"], loader: options["loader-cpu"] } : false,
    load: { ...load, rounds: options.rounds },
  };
  console.log(renderTable(selectedCases, ids, results, failures, environment));
  const lines = [
    ...results.map((r) => JSON.stringify({ bench: "e2e", ...r, vs: ratios(r, results), environment })),
    ...failures.map((f) => JSON.stringify({ bench: "e2e", ...f, failed: true })),
  ];
  console.log(lines.join("\n"));
  if (options["json-out"]) writeFileSync(options["json-out"], lines.join("\n") + "\n");
  if (profileDir) {
    for (const id of options.profile) printProfile(id, join(profileDir, id));
    rmSync(profileDir, { recursive: true, force: true });
  }
  return failures.length > 0 ? 1 : 0;
}

/** One load run, with the server's CPU time over the run's wall time (→ CPU µs per request). */
async function loadOnce(testCase, entry, load) {
  const before = await entry.child.handle.request({ cmd: "cpu" });
  const started = process.hrtime.bigint();
  const result =
    testCase.http === "2"
      ? await runH2load(testCase, entry.port, load)
      : await runWrk(testCase, entry.port, load);
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const after = await entry.child.handle.request({ cmd: "cpu" });
  const utilization = (after.cpuMicros - before.cpuMicros) / 1e6 / wallSeconds;
  return {
    ...result,
    serverCpuUtilization: utilization,
    cpuMicrosPerRequest: (utilization / result.rps) * 1e6,
  };
}

function referenceOf(testCase, id) {
  return id === "ceiling" ? (testCase.http === "2" ? "ceiling-h2" : "ceiling-h1") : id;
}

/**
 * This result's req/s over the ceiling's and each peer's, same case, same run: the median of the per-round
 * ratios (each round loads the two back to back, so drift on the shared machine cancels better than in a
 * ratio of medians). `cpuVsCeiling`: the ceiling's CPU µs per request over this server's (1 = as cheap).
 */
function ratios(result, results) {
  const testCase = cases.find((c) => c.id === result.case);
  const vs = {};
  for (const ref of ["ceiling", ...peers]) {
    const other = results.find((r) => r.case === result.case && r.server === referenceOf(testCase, ref));
    if (!other || other.server === result.server) continue;
    vs[ref] = pairedRatio(result.rounds, other.rounds, (mine, theirs) => mine.rps / theirs.rps);
    if (ref === "ceiling")
      vs.cpuVsCeiling = pairedRatio(
        result.rounds,
        other.rounds,
        (mine, theirs) => theirs.cpuMicrosPerRequest / mine.cpuMicrosPerRequest,
      );
  }
  return vs;
}

function pairedRatio(mine, theirs, ratio) {
  const count = Math.min(mine.length, theirs.length);
  const values = [];
  for (let i = 0; i < count; i++) values.push(ratio(mine[i], theirs[i]));
  return median(values);
}

function renderTable(selectedCases, ids, results, failures, environment) {
  const header = [
    "case",
    "server",
    "req/s",
    "p50 ms",
    "p99 ms",
    "server CPU",
    "CPU µs/req",
    "CPU vs ceiling",
    "vs ceiling",
    "vs grpc-js",
    "vs connect",
  ];
  const rows = [];
  for (const testCase of selectedCases) {
    for (const id of ids) {
      const label = servers[id].label;
      if (!serves(id, testCase)) {
        if (servers[id].why)
          rows.push([testCase.title, label, `n/a (${servers[id].why})`, "", "", "", "", "", "", "", ""]);
        continue;
      }
      const result = results.find((r) => r.case === testCase.id && r.server === id);
      if (!result) {
        rows.push([testCase.title, label, "FAILED (see below)", "", "", "", "", "", "", "", ""]);
        continue;
      }
      const vs = ratios(result, results);
      rows.push([
        testCase.title,
        label,
        formatCount(result.rps) + (result.errors ? ` (${result.errors} errors)` : ""),
        formatMs(result.p50Ms),
        formatMs(result.p99Ms),
        Number.isFinite(result.serverCpuUtilization)
          ? `${Math.round(result.serverCpuUtilization * 100)}%`
          : "–",
        Number.isFinite(result.cpuMicrosPerRequest) ? result.cpuMicrosPerRequest.toFixed(1) : "–",
        formatRatio(vs.cpuVsCeiling),
        formatRatio(vs.ceiling),
        formatRatio(vs["grpc-js"]),
        formatRatio(vs.connect),
      ]);
    }
  }
  const { load } = environment;
  const out = [
    markdownTable(header, rows),
    "",
    `Node ${environment.node}, ${environment.cpus}× ${environment.cpu}; ` +
      (environment.pinned
        ? `servers pinned to CPU ${environment.pinned.servers}, loader to CPU ${environment.pinned.loader} (taskset)`
        : "not pinned") +
      `; h2load -c ${load.connections} -m ${load.streams} -t 1 ` +
      (load.requests > 0 ? `-n ${load.requests}, ` : `-D ${load.duration}s (warm-up ${load.warmup}s), `) +
      `wrk -t 1 -c ${load.h1Connections} -d ${Math.max(1, Math.round(load.duration))}s; ${load.rounds} interleaved round(s), medians.`,
    "vs …: req/s of the row's server over the column's, same case, same run (median of the per-round ratios). " +
      "Server CPU: the server process's CPU time over the run's wall time (below 100% = it waited for the CPU or for " +
      "the loader); CPU µs/req = that over req/s, the figure least disturbed by other work on the machine; " +
      "CPU vs ceiling = the ceiling's CPU µs/req over the row's (1.00x = as cheap as the bare handler).",
  ];
  const targets = [
    ["grpc-h2c", 0.9, "gRPC Check vs bare node:http2"],
    ["triple-json-h1", 0.85, "HTTP/1.1 JSON Check vs bare node:http"],
  ];
  for (const [caseId, target, text] of targets) {
    const ours = results.find((r) => r.case === caseId && r.server === "ours");
    const ratio = ours ? ratios(ours, results).ceiling : undefined;
    if (ratio !== undefined)
      out.push(
        `Target: ${text} ≥ ${target.toFixed(2)}x: measured ${formatRatio(ratio)} — ${ratio >= target ? "met" : "NOT met"}.`,
      );
  }
  for (const failure of failures)
    out.push(`FAILED ${failure.case} on ${failure.server}: ${failure.problems.join("; ").split("\n")[0]}`);
  return out.join("\n");
}

function printProfile(id, dir) {
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".cpuprofile")) : [];
  if (files.length === 0) {
    console.log(`\nno CPU profile was written for ${id} (did it exit cleanly?)`);
    return;
  }
  const all = topSelfTime(join(dir, files[0]));
  // Shares of the busy samples: idle time says only how long the child waited between loads.
  const idle = all.find((t) => t.name === "(idle)")?.percent ?? 0;
  const busy = all
    .filter((t) => t.name !== "(idle)")
    .map((t) => ({ ...t, percent: (100 * t.percent) / (100 - idle) }));
  const row = (t) => [t.name, t.where, t.selfMs.toFixed(0), t.percent.toFixed(1)];
  const header = ["function", "where", "self ms", "% of busy"];
  console.log(
    `\nCPU profile of ${id} (node --cpu-prof, whole life of the process; ${idle.toFixed(0)}% idle left out):`,
  );
  console.log(
    markdownTable(
      ["area", "% of busy"],
      selfTimeByArea(busy).map((a) => [a.area, a.percent.toFixed(1)]),
    ),
  );
  console.log("\nTop self time, all code:");
  console.log(markdownTable(header, busy.slice(0, 30).map(row)));
  const ours = busy.filter((t) => t.where.startsWith("dist/") || t.where.startsWith("src/"));
  if (ours.length > 0) {
    console.log("\nTop self time, this project's code:");
    console.log(markdownTable(header, ours.slice(0, 25).map(row)));
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(error.stack ?? String(error));
    process.exitCode = 2;
  },
);
