// Seeded fuzzing over real connections, bounded for CI: bench/fuzz.mjs (the same engine as `npm run fuzz`)
// runs our server from src/ in a child process under tap's TypeScript loader for a few seconds, with a
// liveness Check after every batch. Asserts no crash, no unhandled rejection, a live server and nothing left
// behind. A failure prints the seed; replay it with `npm run fuzz -- --seed=N --seconds=S`.
import { fileURLToPath } from "node:url";
import t from "tap";
import { type NodeRun, runNode } from "../fixtures/node-process.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const seed = 20_261_124;
const seconds = 10;

interface Summary {
  seed: number;
  cases: number;
  batches: number;
  livenessFailures: number;
  uncaughtExceptions: number;
  unhandledRejections: number;
  watchersLeft: number;
  streamsLeft: number;
  outcomes: Record<string, number>;
  firstErrors: string[];
}

function runFuzz(args: string[], loader = true): Promise<NodeRun> {
  const script = loader ? ["bench/fuzz.mjs", "--from=src", "--json"] : ["bench/fuzz.mjs"];
  // Bounded: the fuzzer stops itself; the kill only guards against a hung child.
  return runNode([...script, ...args], { cwd: root, loader, killAfterMs: (seconds + 60) * 1000 });
}

t.test(`fuzz for ${seconds} s, seed ${seed}`, async (t) => {
  const run = await runFuzz([`--seconds=${seconds}`, `--seed=${seed}`]);
  const line = run.stdout.trim().split("\n").at(-1) ?? "";
  let summary: Summary;
  try {
    summary = JSON.parse(line) as Summary;
  } catch {
    t.fail(`no summary from the fuzzer (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
    return;
  }
  t.comment(
    `fuzz: ${summary.cases} requests, ${summary.batches} liveness Checks, outcomes ${JSON.stringify(summary.outcomes)}`,
  );
  t.equal(run.code, 0, `the fuzzer exits 0 (seed ${seed})`);
  t.ok(summary.cases > 50, `${summary.cases} random requests sent`);
  t.ok(summary.batches > 5, "liveness checked repeatedly");
  t.equal(summary.livenessFailures, 0, "the server answered every liveness Check");
  t.equal(summary.uncaughtExceptions, 0, "no crash (uncaught exception)");
  t.equal(summary.unhandledRejections, 0, "no unhandled rejection");
  t.equal(summary.watchersLeft, 0, "no watcher left");
  t.equal(summary.streamsLeft, 0, "no server stream left");
  t.same(summary.firstErrors, [], "no error reported");
  // UNKNOWN would mean an exception escaped a handler or the transport code instead of a mapped error.
  const unknown = Object.keys(summary.outcomes).filter((k) => /:unknown|^grpc-2(\/|$)/.test(k));
  t.same(unknown, [], "no UNKNOWN status (every error was a deliberate one)");
  // The fuzzer reached the server's answers, not only its transport errors.
  const answered = Object.keys(summary.outcomes).filter((k) => /^(grpc|http)-/.test(k));
  t.ok(answered.length >= 5, `varied answers: ${answered.join(", ")}`);
});

t.test("--help (plain node: it loads nothing)", async (t) => {
  const help = await runFuzz(["--help"], false);
  t.equal(help.code, 0);
  t.match(help.stdout, /--seconds/);
  t.match(help.stdout, /--seed/);
});
