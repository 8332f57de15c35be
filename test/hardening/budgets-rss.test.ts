// The byte budgets seen from outside (hardening II item 12): bench/memory-attacks.mjs runs each memory attack
// against a server in its own process and reads that process's RSS before, during (/proc VmRSS every 100 ms)
// and after, with a Check on another connection meanwhile. Small budgets here (1 MiB per connection, 4 MiB
// per port) so that the attack — 2 connections x 100 streams x 1 MiB of unfinished 4 MiB messages, 200 MiB
// that a server without budgets buffers whole — is many times what the server may hold. The figures at the
// issue's sizes and default budgets come from `npm run bench:memory` (SECURITY.md, Budgets).
import { fileURLToPath } from "node:url";
import t from "tap";
import { runNode } from "../fixtures/node-process.ts";
import { distIsFresh } from "../package/fixtures/build.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const from = distIsFresh() ? "dist" : "src";
t.comment(`our server runs from ${from}/`);

interface AttackLine {
  attack: string;
  rssBeforeMiB: number;
  rssMaxMiB: number;
  rssAfterMiB: number;
  attacker: Record<string, number>;
  problems: string[];
}

async function attacks(names: string[], extra: string[]): Promise<AttackLine[]> {
  const run = await runNode(
    [
      "bench/memory-attacks.mjs",
      `--attacks=${names.join(",")}`,
      `--from=${from}`,
      "--max-connection-buffered=1048576",
      "--max-process-buffered=4194304",
      ...extra,
    ],
    { cwd: root, loader: from === "src", killAfterMs: 200_000 },
  );
  const lines = run.stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as AttackLine);
  if (lines.length !== names.length) throw new Error(`memory-attacks exited ${run.code}: ${run.stderr}`);
  t.comment(run.stderr.trim());
  return lines;
}

t.test("partial bodies: RSS stays bounded, the offenders are ended, Checks are answered", async (t) => {
  const [line] = await attacks(["partial-bodies"], ["--seconds=4", "--bytes=1048576", "--max-growth-mb=96"]);
  t.same(line!.problems, [], "every Check answered, RSS growth under 96 MiB");
  t.ok(line!.rssMaxMiB - line!.rssBeforeMiB < 96, `RSS ${line!.rssBeforeMiB} → ${line!.rssMaxMiB} MiB`);
  t.ok(
    (line!.attacker["grpc-8"] ?? 0) > 0,
    `streams ended with RESOURCE_EXHAUSTED: ${line!.attacker["grpc-8"]}`,
  );
});

t.test("the other memory attacks: bounded RSS and answered Checks", async (t) => {
  const lines = await attacks(
    ["zero-window-readers", "header-flood", "slow-bodies", "idle-connections"],
    ["--seconds=3", "--max-growth-mb=96"],
  );
  for (const line of lines) {
    t.same(
      line.problems,
      [],
      `${line.attack}: RSS ${line.rssBeforeMiB} → ${line.rssMaxMiB} → ${line.rssAfterMiB} MiB`,
    );
  }
});
