// Smoke test of bench/soak.mjs: a few seconds of the legitimate load with every memory attacker running
// alongside. Every legitimate request must be answered and the JSON line must carry the heap and RSS figures
// and each attacker's counts. Flatness is judged by the 60 s `npm run soak` (RSS is still warming up after a
// few seconds, so the slack is wide here).
import { fileURLToPath } from "node:url";
import t from "tap";
import { runNode } from "../fixtures/node-process.ts";
import { distIsFresh } from "../package/fixtures/build.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const from = distIsFresh() ? "dist" : "src";

t.test("soak: load plus memory attackers, no failed request, RSS and heap reported", async (t) => {
  const run = await runNode(
    [
      "bench/soak.mjs",
      "--seconds=6",
      `--from=${from}`,
      "--connections=2",
      "--streams=4",
      "--h1-clients=2",
      "--watchers=40",
      "--rss-slack-mb=400",
      "--heap-slack-mb=32",
    ],
    { cwd: root, loader: from === "src", killAfterMs: 120_000 },
  );
  const line = run.stdout.split("\n").find((l) => l.startsWith("{"));
  t.ok(line, "a JSON line", { stderr: run.stderr.slice(-3000) });
  const result = JSON.parse(line ?? "{}") as {
    errors: number;
    errorKinds: Record<string, number>;
    grpcChecks: number;
    rssStartMiB: number;
    rssEndMiB: number;
    rssMaxMiB: number;
    attacks: Record<string, Record<string, number>>;
  };
  t.equal(run.code, 0, "exit code", { stderr: run.stderr.slice(-3000) });
  t.equal(result.errors, 0, `no failed legitimate request ${JSON.stringify(result.errorKinds)}`);
  t.ok(result.grpcChecks > 0, `${result.grpcChecks} gRPC Checks`);
  t.ok(result.rssMaxMiB >= result.rssStartMiB && result.rssEndMiB > 0, "RSS start, end and max reported");
  t.same(
    Object.keys(result.attacks).sort(),
    ["header-flood", "idle-connections", "partial-bodies", "slow-bodies", "zero-window-readers"],
    "every attacker ran",
  );
  t.ok(result.attacks["partial-bodies"]!["opened"]! > 0, "the partial-body attacker opened streams");
  t.comment(run.stderr.trim());
});
