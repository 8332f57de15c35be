// Smoke test of the bench harnesses (bench/e2e.mjs, bench/watch-fanout.mjs): every server starts, answers the
// correctness probe, survives a tiny h2load / wrk run, a status flip reaches every watcher (also with watchers
// cancelled and re-opened meanwhile: --churn), and the tables and JSON lines come out. Speed is never asserted here. The peers are the real grpc-js, connect-node, node:http2 and
// node:http servers. The e2e harness loads them with h2load (nghttp2-client) and wrk: without both on PATH
// (.ci/run installs them) its test is skipped, saying so; the watch fan-out harness needs neither.
//
// Our server runs from dist/ when the build is at least as new as every file in src/ (CI builds before the
// tests; a child then starts in well under a second), otherwise from src/ through tap's TypeScript loader,
// passed on with process.execArgv (slower: the loader costs each process seconds of CPU, but no build needed).
import { fileURLToPath } from "node:url";
import t from "tap";
import { type NodeRun, runNode } from "../fixtures/node-process.ts";
import { needs } from "../fixtures/tools.ts";
import { distIsFresh } from "../package/fixtures/build.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));

function oursFrom(): "dist" | "src" {
  return distIsFresh() ? "dist" : "src";
}

const from = oursFrom();
t.comment(`our server runs from ${from}/`);

function runBench(script: string, args: string[]): Promise<NodeRun> {
  // The TypeScript loader only when our server must be read from src/.
  return runNode([script, ...args], { cwd: root, loader: from === "src" });
}

interface E2eLine {
  bench: string;
  case: string;
  server: string;
  rps?: number;
  errors?: number;
  failed?: boolean;
  problems?: string[];
  vs?: Record<string, number>;
}

function jsonLines(stdout: string): E2eLine[] {
  return stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as E2eLine);
}

// The harnesses run at once (each is mostly waiting on its children) to keep the file well under 20 s; the
// e2e one not at all when its load generators are missing.
const e2eTools = needs("h2load", "wrk");
const e2eRun =
  e2eTools.skip === undefined ? runBench("bench/e2e.mjs", ["--smoke", `--ours-from=${from}`]) : undefined;
const watchRun = runBench("bench/watch-fanout.mjs", ["--smoke", `--ours-from=${from}`]);
const heapRun = runBench("bench/watch-heap.mjs", ["--watchers=200", `--ours-from=${from}`]);
// The churn path: 200 watchers, 200 of them cancelled and re-opened per second for 1 s while the statuses flip.
const churnRun = runBench("bench/watch-fanout.mjs", [
  "--smoke",
  "--churn=200",
  "--servers=ours,ceiling",
  `--ours-from=${from}`,
]);

t.test("e2e harness: probes pass and every server is loaded", e2eTools, async (t) => {
  const run = await (e2eRun as Promise<NodeRun>);
  t.equal(
    run.code,
    0,
    "exit code",
    run.code === 0 ? {} : { stderr: run.stderr.slice(-3000), stdout: run.stdout.slice(-3000) },
  );
  t.match(run.stdout, /^\| case +\| server +\| req\/s/m, "markdown table header");
  t.match(run.stdout, /\| gRPC Check, h2c +\| grpc-js +\|/, "grpc-js row");
  t.match(
    run.stdout,
    /\| triple JSON Check, HTTP\/1\.1 +\| grpc-js +\| n\/a/,
    "grpc-js marked n/a for triple",
  );
  t.notMatch(run.stdout, /FAILED/, "no probe or load failures");
  const lines = jsonLines(run.stdout);
  t.same(
    lines.filter((line) => line.failed),
    [],
    "no failure lines",
  );
  const expected: [string, string[]][] = [
    ["grpc-h2c", ["ours", "grpc-js", "connect", "ceiling-h2"]],
    ["triple-json-h1", ["ours", "connect", "ceiling-h1"]],
    ["triple-json-h2c", ["ours", "connect", "ceiling-h2"]],
    ["triple-proto-h2c", ["ours", "connect", "ceiling-h2"]],
  ];
  for (const [caseId, serverIds] of expected) {
    const got = lines.filter((line) => line.case === caseId);
    t.same(got.map((line) => line.server).sort(), [...serverIds].sort(), `${caseId}: servers loaded`);
    for (const line of got) {
      t.equal(line.bench, "e2e");
      t.ok((line.rps ?? 0) > 0, `${caseId} ${line.server}: some requests done`);
      t.equal(line.errors, 0, `${caseId} ${line.server}: no failed or non-2xx responses`);
    }
    const ours = got.find((line) => line.server === "ours");
    t.type(ours?.vs?.["ceiling"], "number", `${caseId}: ours has a ratio to the ceiling`);
  }
});

t.test("watch fan-out harness: a flip reaches every watcher", async (t) => {
  const run = await watchRun;
  t.equal(
    run.code,
    0,
    "exit code",
    run.code === 0 ? {} : { stderr: run.stderr.slice(-3000), stdout: run.stdout.slice(-3000) },
  );
  t.match(run.stdout, /^\| watchers +\| server +\|/m, "markdown table header");
  const lines = stdoutLines(run.stdout);
  t.same(lines.map((line) => line.server).sort(), ["ceiling", "grpc-js", "ours"]);
  for (const line of lines) {
    t.equal(line.error, undefined, `${line.server}: no error`);
    t.equal(line.flips.length, 2, `${line.server}: two flips`);
    for (const flip of line.flips)
      t.equal(flip.received, line.watchers, `${line.server}: flip reached everyone`);
    t.type(line.rssPerWatcher, "number");
  }
});

t.test("watch fan-out harness under churn: every flip reaches every stable watcher", async (t) => {
  const run = await churnRun;
  t.equal(
    run.code,
    0,
    "exit code",
    run.code === 0 ? {} : { stderr: run.stderr.slice(-3000), stdout: run.stdout.slice(-3000) },
  );
  t.match(
    run.stdout,
    /^\| watchers +\| server +\|.*\| churned +\|/m,
    "markdown table header with churn columns",
  );
  const lines = stdoutLines(run.stdout);
  t.same(lines.map((line) => line.server).sort(), ["ceiling", "ours"]);
  for (const line of lines) {
    t.equal(line.error, undefined, `${line.server}: no error`);
    t.equal(line.flips.length, 2, `${line.server}: two flips`);
    for (const flip of line.flips) {
      t.ok(flip.stable > 0, `${line.server}: some watchers stayed open through the flip`);
      t.equal(flip.received, flip.stable, `${line.server}: flip reached every stable watcher`);
      t.equal(flip.errors, 0, `${line.server}: no stream errors during the flip`);
    }
    t.ok((line.churn?.churned ?? 0) > 0, `${line.server}: streams were cancelled and re-opened`);
    t.equal(line.churn?.errors, 0, `${line.server}: no stream errors under churn`);
    t.equal(line.churn?.settled, true, `${line.server}: every re-opened watcher got its first status`);
    t.type(line.memory?.afterChurn?.rss, "number", `${line.server}: memory measured after the churn`);
  }
});

interface WatchLine {
  server: string;
  watchers: number;
  error?: string;
  flips: { received: number; stable: number; errors: number }[];
  rssPerWatcher: number;
  churn?: { churned: number; errors: number; settled: boolean };
  memory?: { afterChurn?: { rss: number } };
}

function stdoutLines(stdout: string): WatchLine[] {
  return stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as WatchLine);
}

t.test(
  "watch heap breakdown: both servers measured, the held call and the Watch per watcher in the table",
  async (t) => {
    const run = await heapRun;
    t.equal(run.code, 0, run.stderr);
    const rows = run.stdout.split("\n").filter((line) => line.startsWith("| "));
    t.ok(
      rows.some((row) => row.startsWith("| object: HeldCall") && row.includes("(1.00)")),
      "one HeldCall per watcher",
    );
    t.notOk(
      rows.some((row) => /^\| object: ServerCall +\| \d+ B \((0\.[5-9]|[1-9])/.test(row)),
      "the full call it took over from is not kept",
    );
    t.ok(
      rows.some((row) => row.startsWith("| object: WatchStream") && row.includes("(1.00)")),
      "one WatchStream per watcher",
    );
    t.match(run.stdout, /\| all \(code excepted\) +\| \d+ B +\| \d+ B +\| -?\d+ B/, "the totals row");
  },
);
