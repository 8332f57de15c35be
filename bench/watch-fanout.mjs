// Watch fan-out: N gRPC Health/Watch streams (100 per HTTP/2 connection by default) from a separate client
// process; flip the watched service's status in the server process and time until every watcher has it
// (p50/p99/max), and measure the server's memory per watcher (RSS and heapUsed deltas after GC), against the
// bare node:http2 loop ("ceiling") of the same run. With --churn, watchers keep being cancelled and re-opened
// while the statuses flip, and memory is measured again after the churn. Against this project's server,
// grpc-js's grpc-health-check and the ceiling. `node bench/watch-fanout.mjs --help`.
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseOptions, usage } from "./lib/args.mjs";
import { canPin, startChild } from "./lib/children.mjs";
import { formatCount, formatKiB, formatMs, formatRatio, markdownTable } from "./lib/report.mjs";
import { median } from "./lib/stats.mjs";

const spec = {
  watchers: { default: ["1000", "10000", "50000"], help: "comma-separated watcher counts" },
  "per-connection": { default: 100, help: "watch streams per HTTP/2 connection" },
  flips: { default: 5, help: "status flips per count (alternating NOT_SERVING / SERVING); medians shown" },
  servers: { default: ["ours", "grpc-js", "ceiling"], help: "comma-separated servers" },
  rounds: {
    default: 1,
    help: "runs of every server per count, one after the other in turn; medians over the rounds shown",
  },
  "ours-from": {
    default: "dist",
    help: "load our server from dist (built) or src (needs a TypeScript loader)",
  },
  "server-cpu": { default: 0, help: "CPU the server is pinned to (taskset)" },
  "client-cpu": { default: 1, help: "CPU the watch client is pinned to (taskset)" },
  pin: { default: true, help: "pin with taskset when available (--no-pin to turn off)" },
  client: {
    default: "raw",
    help: "watch client: raw (minimal frame-level HTTP/2, cheap) or node (node:http2)",
  },
  "flip-timeout-ms": { default: 30000, help: "give up on a flip reaching everyone after this long" },
  churn: {
    default: 0,
    help: "watch streams cancelled (RST_STREAM CANCEL) and re-opened per second while the flips run; 0: off",
  },
  "churn-ms": {
    default: 5000,
    help: "with --churn: churn at least this long (the flips run at its start), then measure memory",
  },
  "settle-ms": {
    default: 0,
    help: "with --churn: measure memory once more after this long idle (V8 gives back heap pages slowly)",
  },
  smoke: { default: false, help: "tiny run: 200 watchers, 2 flips (with --churn: churn for 1 s)" },
};

const serverScripts = {
  ours: { label: "triple-health", script: "servers/ours.mjs" },
  "grpc-js": { label: "grpc-js + grpc-health-check", script: "servers/grpc-js.mjs" },
  ceiling: { label: "ceiling node:http2", script: "servers/ceiling-h2.mjs" },
};
const here = fileURLToPath(new URL(".", import.meta.url));

// The criteria (issue 16), each against the bare node:http2 stream of the same run.
const rssMarginBytes = 1.5 * 1024;
const p99Factor = 1.1;

async function main() {
  const options = parseOptions(spec);
  if (options.help) {
    console.log(usage("node bench/watch-fanout.mjs [flags]", spec));
    return 0;
  }
  if (options.smoke) Object.assign(options, { watchers: ["200"], flips: 2, rounds: 1, "churn-ms": 1000 });
  const counts = options.watchers.map(Number);
  const perConnection = options["per-connection"];
  const rounds = Math.max(1, Math.floor(options.rounds));
  for (const id of options.servers) if (!serverScripts[id]) throw new Error(`unknown server ${id}`);
  // One socket per connection in the client and in the server: 100k watchers at 100 per connection are 1,000
  // descriptors each, beyond the common soft limit of 1,024 once node's own are counted.
  const limit = openFileLimit();
  for (const count of counts) {
    const needed = Math.ceil(count / perConnection) + 100;
    if (needed > limit)
      throw new Error(
        `${count} watchers at ${perConnection} per connection need about ${needed} open files in the client and ` +
          `in the server; the limit here is ${limit}: raise it (ulimit -n ${needed}) or --per-connection`,
      );
  }
  const results = [];
  let failed = false;
  for (const count of counts) {
    for (let round = 1; round <= rounds; round++) {
      for (const id of options.servers) {
        const result = await runOne(id, count, round, perConnection, options);
        results.push(result);
        if (problems(result).length > 0) failed = true;
        process.stderr.write(
          `${id} ${count} watchers, round ${round}: ${JSON.stringify(summarize(result))}\n`,
        );
      }
    }
  }
  const churning = options.churn > 0;
  const settling = churning && options["settle-ms"] > 0;
  const groups = [];
  for (const count of counts) for (const id of options.servers) groups.push(aggregate(results, id, count));
  const header = [
    "watchers",
    "server",
    "open s",
    "flip p50 ms",
    "flip p99 ms",
    "flip max ms",
    "p99 ÷ ceiling",
    "RSS/watcher",
    "RSS − ceiling",
    "heap/watcher",
    ...(churning
      ? [
          "churned",
          "RSS/watcher churned",
          "RSS − ceiling churned",
          "ΔRSS churn",
          "Δheap churn",
          "ΔheapTotal churn",
        ]
      : []),
    ...(settling ? ["RSS − ceiling settled", "ΔRSS settled"] : []),
    "notes",
  ];
  const rows = groups.map((g) => {
    const s = g.summary;
    const vs = g.server !== "ceiling";
    return [
      String(g.watchers),
      serverScripts[g.server].label,
      Number.isFinite(s.openMs) ? (s.openMs / 1000).toFixed(1) : "–",
      formatMs(s.p50Ms),
      formatMs(s.p99Ms),
      formatMs(s.maxMs),
      vs ? formatRatio(g.p99Ratio) : "",
      formatKiB(s.rssPerWatcher),
      vs ? formatSignedKiB(g.rssExtra) : "",
      formatKiB(s.heapPerWatcher),
      ...(churning
        ? [
            formatCount(s.churned),
            formatKiB(s.rssPerWatcherChurned),
            vs ? formatSignedKiB(g.rssExtraChurned) : "",
            formatSignedMiB(s.churnRssDelta),
            formatSignedMiB(s.churnHeapDelta),
            formatSignedMiB(s.churnHeapTotalDelta),
          ]
        : []),
      ...(settling ? [vs ? formatSignedKiB(g.rssExtraSettled) : "", formatSignedMiB(s.settledRssDelta)] : []),
      g.problems.join("; "),
    ];
  });
  console.log(markdownTable(header, rows));
  console.log(
    `\nNode ${process.version}, ${cpus().length}× ${cpus()[0]?.model}; ` +
      (options.pin && canPin()
        ? `server pinned to CPU ${options["server-cpu"]}, client to CPU ${options["client-cpu"]} (taskset)`
        : "not pinned") +
      `; ${perConnection} watch streams per HTTP/2 connection; ${options.flips} flips each, medians of per-flip` +
      " p50/p99/max; memory = server RSS/heapUsed after GC with all watchers open minus before any, over the" +
      " watcher count; p99 ÷ ceiling and RSS − ceiling: against the ceiling's run of the same count and round." +
      (rounds > 1 ? ` ${rounds} rounds: every figure is the median over the rounds.` : "") +
      (churning
        ? ` Churn: ${formatCount(options.churn)} streams/s cancelled and re-opened from before the first flip for` +
          ` at least ${options["churn-ms"]} ms, so the flips ran under churn and are timed over the watchers` +
          ' open for the whole flip; "churned" columns: memory after the churn (N watchers open again) minus' +
          " before any, Δ: after churn minus after open (whole process; heapTotal: the heap V8 holds, used or" +
          " not)."
        : "") +
      (settling
        ? ` "Settled": memory once more after ${options["settle-ms"]} ms idle after the churn, minus after open.`
        : ""),
  );
  for (const line of targets(groups, churning ? options.churn : 0)) console.log(line);
  for (const r of results) console.log(JSON.stringify({ bench: "watch-fanout", ...r, ...summarize(r) }));
  return failed ? 1 : 0;
}

/** The soft limit on open files of this process (its children inherit it); Infinity when unknown. */
function openFileLimit() {
  try {
    const match = /^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "utf8"));
    return match ? Number(match[1]) : Number.POSITIVE_INFINITY;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

function summarize(result) {
  const flips = result.flips ?? [];
  const memory = result.memory;
  const churned = memory?.afterChurn;
  return {
    openMs: result.openMs ?? Number.NaN,
    p50Ms: median(flips.map((f) => f.p50Ms)),
    p99Ms: median(flips.map((f) => f.p99Ms)),
    maxMs: median(flips.map((f) => f.maxMs)),
    incomplete: flips.filter((f) => f.received < f.stable).length,
    minStable: flips.length ? Math.min(...flips.map((f) => f.stable)) : Number.NaN,
    rssPerWatcher: memory ? memory.rssDelta / result.watchers : Number.NaN,
    heapPerWatcher: memory ? memory.heapDelta / result.watchers : Number.NaN,
    churned: result.churn?.churned ?? Number.NaN,
    rssPerWatcherChurned: churned ? (churned.rss - memory.before.rss) / result.watchers : Number.NaN,
    heapPerWatcherChurned: churned
      ? (churned.heapUsed - memory.before.heapUsed) / result.watchers
      : Number.NaN,
    churnRssDelta: churned ? churned.rss - memory.after.rss : Number.NaN,
    churnHeapDelta: churned ? churned.heapUsed - memory.after.heapUsed : Number.NaN,
    churnHeapTotalDelta: churned ? churned.heapTotal - memory.after.heapTotal : Number.NaN,
    rssPerWatcherSettled: memory?.settled
      ? (memory.settled.rss - memory.before.rss) / result.watchers
      : Number.NaN,
    settledRssDelta: memory?.settled ? memory.settled.rss - memory.after.rss : Number.NaN,
  };
}

/**
 * One server at one count over its rounds: the median of each figure, and the medians of the per-round
 * ratio and differences to the ceiling's run of the same round (so that a load change between rounds hits
 * both sides alike).
 */
function aggregate(results, id, count) {
  const runs = results.filter((r) => r.server === id && r.watchers === count);
  const summaries = runs.map(summarize);
  const summary = {};
  for (const key of Object.keys(summaries[0] ?? {})) summary[key] = median(summaries.map((s) => s[key]));
  const pairs = runs.flatMap((r) => {
    const ceiling = results.find(
      (c) => c.server === "ceiling" && c.watchers === count && c.round === r.round,
    );
    return ceiling && ceiling !== r ? [[summarize(r), summarize(ceiling)]] : [];
  });
  const pairMedian = (f) => median(pairs.map(([ours, ceiling]) => f(ours, ceiling)));
  return {
    server: id,
    watchers: count,
    rounds: runs.length,
    connections: runs[0]?.connections,
    summary,
    p99Ratio: pairMedian((o, c) => o.p99Ms / c.p99Ms),
    rssExtra: pairMedian((o, c) => o.rssPerWatcher - c.rssPerWatcher),
    rssExtraChurned: pairMedian((o, c) => o.rssPerWatcherChurned - c.rssPerWatcherChurned),
    rssExtraSettled: pairMedian((o, c) => o.rssPerWatcherSettled - c.rssPerWatcherSettled),
    problems: [
      ...new Set(
        runs.flatMap((r) => problems(r).map((p) => (runs.length > 1 ? `round ${r.round}: ${p}` : p))),
      ),
    ],
  };
}

/** What went wrong in a run (empty: nothing): an error, a flip that missed a stable watcher, stream errors. */
function problems(result) {
  const out = [];
  if (result.error) out.push(result.error);
  const flips = result.flips ?? [];
  const incomplete = flips.filter((f) => f.received < f.stable).length;
  if (incomplete) out.push(`${incomplete} flip(s) did not reach every stable watcher`);
  const errors = Math.max(0, ...flips.map((f) => f.errors), result.churn?.errors ?? 0);
  if (errors) {
    const first = result.churn?.firstError || flips.find((f) => f.firstError)?.firstError;
    out.push(`${errors} stream error(s): ${first}`);
  }
  if (result.churn && !result.churn.settled)
    out.push(`${result.churn.uninitialised} re-opened watcher(s) never got their first status`);
  return out;
}

function targets(groups, churnRate) {
  const lines = [];
  const verdict = (ok) => (ok ? "met" : "NOT met");
  for (const g of groups) {
    const ceiling = groups.find((c) => c.server === "ceiling" && c.watchers === g.watchers);
    if (g.server !== "ours" || !ceiling || g.problems.length || ceiling.problems.length) continue;
    const s = g.summary;
    const c = ceiling.summary;
    const what = `${formatCount(g.watchers)} watchers over ${formatCount(g.connections)} connections`;
    lines.push(
      `Target: memory per watcher within 1.5 KiB of the bare stream, ${what}: ours ${formatKiB(s.rssPerWatcher)}` +
        ` − ceiling ${formatKiB(c.rssPerWatcher)} = ${formatSignedKiB(g.rssExtra)} RSS —` +
        ` ${verdict(g.rssExtra <= rssMarginBytes)}.`,
    );
    lines.push(
      `Target: flip spread (p99) within 1.1x the bare loop${churnRate > 0 ? " (under churn)" : ""}, ${what}:` +
        ` ours ${formatMs(s.p99Ms)} ms ÷ ceiling ${formatMs(c.p99Ms)} ms = ${g.p99Ratio.toFixed(3)}x —` +
        ` ${verdict(g.p99Ratio <= p99Factor)}.`,
    );
    if (churnRate > 0 && Number.isFinite(s.rssPerWatcherChurned) && Number.isFinite(c.rssPerWatcherChurned))
      lines.push(
        `Target: memory at the floor under churn (${formatCount(churnRate)}/s; ours ${formatCount(s.churned)},` +
          ` ceiling ${formatCount(c.churned)} streams replaced), ${what}: RSS/watcher after churn ours` +
          ` ${formatKiB(s.rssPerWatcherChurned)} − ceiling ${formatKiB(c.rssPerWatcherChurned)} =` +
          ` ${formatSignedKiB(g.rssExtraChurned)} — ${verdict(g.rssExtraChurned <= rssMarginBytes)}; after open →` +
          ` after churn: ours RSS ${formatSignedMiB(s.churnRssDelta)}, heapUsed ${formatSignedMiB(s.churnHeapDelta)};` +
          ` ceiling RSS ${formatSignedMiB(c.churnRssDelta)}, heapUsed ${formatSignedMiB(c.churnHeapDelta)}` +
          (Number.isFinite(g.rssExtraSettled)
            ? `; RSS/watcher ours − ceiling once settled ${formatSignedKiB(g.rssExtraSettled)} —` +
              ` ${verdict(g.rssExtraSettled <= rssMarginBytes)}.`
            : "."),
      );
  }
  return lines;
}

function formatSignedKiB(bytes) {
  return Number.isFinite(bytes) ? `${bytes < 0 ? "−" : "+"}${formatKiB(Math.abs(bytes))}` : "–";
}

function formatSignedMiB(bytes) {
  return Number.isFinite(bytes)
    ? `${bytes < 0 ? "−" : "+"}${(Math.abs(bytes) / 1048576).toFixed(1)} MiB`
    : "–";
}

/** A fresh server process per count, so memory deltas are this run's alone. */
async function runOne(id, count, round, perConnection, options) {
  // Our per-connection Watch share exactly what the client opens on each connection (and below max-streams):
  // under churn a cancelled Watch that was not let go of shows up as a refused new one. The registry's
  // maxWatchers with room to spare; the per-address share off, since every bench client comes from 127.0.0.1.
  const maxStreams = Math.max(1000, perConnection * 2);
  const args = [`--max-streams=${maxStreams}`, `--max-watchers=${count * 2}`];
  if (id === "ours")
    args.push(
      `--from=${options["ours-from"]}`,
      "--max-watchers-per-address=Infinity",
      `--max-watchers-per-connection=${perConnection}`,
    );
  const server = startChild(join(here, serverScripts[id].script), {
    cpu: options.pin ? options["server-cpu"] : undefined,
    nodeArgs: ["--expose-gc"],
    args,
    inheritExecArgv: id === "ours" && options["ours-from"] === "src",
    readyTimeoutMs: 60000,
  });
  const result = { server: id, watchers: count, round, perConnection, flips: [] };
  let client;
  try {
    const ready = await server.ready;
    await new Promise((resolve) => setTimeout(resolve, 300));
    const before = await server.request({ cmd: "mem" });
    client = startChild(join(here, "lib/watch-client.mjs"), {
      cpu: options.pin ? options["client-cpu"] : undefined,
      args: [
        `--port=${ready.h2}`,
        `--watchers=${count}`,
        `--per-connection=${perConnection}`,
        `--client=${options.client}`,
      ],
      nodeArgs: ["--max-old-space-size=4096"],
      readyTimeoutMs: 180000,
    });
    const opened = await client.ready;
    result.openMs = opened.openMs;
    result.connections = opened.connections;
    result.clientRss = opened.clientRss;
    if (opened.initialReceived < count || opened.errors > 0) {
      result.error = `only ${opened.initialReceived}/${count} watchers got their first status; ${opened.errors} errors: ${opened.firstError}`;
      return result;
    }
    const after = await server.request({ cmd: "mem" });
    result.memory = {
      before,
      after,
      rssDelta: after.rss - before.rss,
      heapDelta: after.heapUsed - before.heapUsed,
      externalDelta: after.external - before.external,
    };
    const churnStarted = performance.now();
    if (options.churn > 0) await client.request({ cmd: "churn", rate: options.churn });
    for (let flip = 0; flip < options.flips; flip++) {
      const status = flip % 2 === 0 ? "NOT_SERVING" : "SERVING";
      await client.request({ cmd: "arm", status });
      const { t0, t1 } = await server.request({ cmd: "set", status });
      const measured = await client.request({ cmd: "t0", t0, timeoutMs: options["flip-timeout-ms"] });
      const { id: _, ...flipResult } = measured;
      result.flips.push({ status, serverSyncMs: Number(BigInt(t1) - BigInt(t0)) / 1e6, ...flipResult });
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    if (options.churn > 0) {
      const left = options["churn-ms"] - (performance.now() - churnStarted);
      if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
      const { id: _, ...churn } = await client.request({ cmd: "churn-stop", timeoutMs: 30000 });
      result.churn = { requestedRate: options.churn, ...churn };
      await new Promise((resolve) => setTimeout(resolve, 300));
      result.memory.afterChurn = await server.request({ cmd: "mem" });
      if (options["settle-ms"] > 0) {
        await new Promise((resolve) => setTimeout(resolve, options["settle-ms"]));
        result.memory.settled = await server.request({ cmd: "mem" });
      }
    }
  } catch (error) {
    result.error = String(error.message).split("\n")[0];
  } finally {
    await client?.stop();
    await server.stop();
  }
  return result;
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
