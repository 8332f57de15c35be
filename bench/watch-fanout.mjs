// Watch fan-out: N gRPC Health/Watch streams (100 per HTTP/2 connection by default) from a separate client
// process; flip the watched service's status in the server process and time until every watcher has it
// (p50/p99/max), and measure the server's memory per watcher (RSS and heapUsed deltas after GC).
// Against this project's server and grpc-js's grpc-health-check. `node bench/watch-fanout.mjs --help`.
import { cpus } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseOptions, usage } from "./lib/args.mjs";
import { canPin, startChild } from "./lib/children.mjs";
import { formatKiB, formatMs, markdownTable } from "./lib/report.mjs";
import { median } from "./lib/stats.mjs";

const spec = {
  watchers: { default: ["1000", "10000", "50000"], help: "comma-separated watcher counts" },
  "per-connection": { default: 100, help: "watch streams per HTTP/2 connection" },
  flips: { default: 5, help: "status flips per count (alternating NOT_SERVING / SERVING); medians shown" },
  servers: { default: ["ours", "grpc-js", "ceiling"], help: "comma-separated servers" },
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
  smoke: { default: false, help: "tiny run: 200 watchers, 2 flips" },
};

const serverScripts = {
  ours: { label: "triple-health", script: "servers/ours.mjs" },
  "grpc-js": { label: "grpc-js + grpc-health-check", script: "servers/grpc-js.mjs" },
  ceiling: { label: "ceiling node:http2", script: "servers/ceiling-h2.mjs" },
};
const here = fileURLToPath(new URL(".", import.meta.url));

async function main() {
  const options = parseOptions(spec);
  if (options.help) {
    console.log(usage("node bench/watch-fanout.mjs [flags]", spec));
    return 0;
  }
  if (options.smoke) Object.assign(options, { watchers: ["200"], flips: 2 });
  const counts = options.watchers.map(Number);
  const perConnection = options["per-connection"];
  const results = [];
  let failed = false;
  for (const count of counts) {
    for (const id of options.servers) {
      if (!serverScripts[id]) throw new Error(`unknown server ${id}`);
      const result = await runOne(id, count, perConnection, options);
      results.push(result);
      if (result.error || result.flips.some((f) => f.received < count)) failed = true;
      process.stderr.write(`${id} ${count} watchers: ${JSON.stringify(summarize(result))}\n`);
    }
  }
  const header = [
    "watchers",
    "server",
    "open s",
    "flip p50 ms",
    "flip p99 ms",
    "flip max ms",
    "RSS/watcher",
    "heap/watcher",
    "notes",
  ];
  const rows = results.map((r) => {
    const s = summarize(r);
    return [
      String(r.watchers),
      serverScripts[r.server].label,
      Number.isFinite(r.openMs) ? (r.openMs / 1000).toFixed(1) : "–",
      formatMs(s.p50Ms),
      formatMs(s.p99Ms),
      formatMs(s.maxMs),
      formatKiB(s.rssPerWatcher),
      formatKiB(s.heapPerWatcher),
      r.error ?? (s.incomplete ? `${s.incomplete} flip(s) did not reach everyone` : ""),
    ];
  });
  console.log(markdownTable(header, rows));
  console.log(
    `\nNode ${process.version}, ${cpus().length}× ${cpus()[0]?.model}; ` +
      (options.pin && canPin()
        ? `server pinned to CPU ${options["server-cpu"]}, client to CPU ${options["client-cpu"]} (taskset)`
        : "not pinned") +
      `; ${perConnection} watch streams per HTTP/2 connection; ${options.flips} flips each, medians of per-flip p50/p99/max;` +
      " memory = server RSS/heapUsed after GC with all watchers open minus before any, over the watcher count.",
  );
  for (const r of results) {
    const s = summarize(r);
    if (r.watchers === 10000 && r.server === "ours")
      console.log(
        `Target: 10k watchers, flip p99 ≤ 30 ms: measured ${formatMs(s.p99Ms)} ms — ${s.p99Ms <= 30 ? "met" : "NOT met"}.`,
      );
    if (r.watchers === 50000 && r.server === "ours") {
      const verdict = (bytes) => (bytes <= 5120 ? "met" : "NOT met");
      console.log(
        `Target: 50k watchers ≤ 5 KiB each: RSS ${formatKiB(s.rssPerWatcher)} (${verdict(s.rssPerWatcher)}), ` +
          `heapUsed ${formatKiB(s.heapPerWatcher)} (${verdict(s.heapPerWatcher)}).`,
      );
    }
  }
  for (const r of results) console.log(JSON.stringify({ bench: "watch-fanout", ...r, ...summarize(r) }));
  return failed ? 1 : 0;
}

function summarize(result) {
  const flips = result.flips ?? [];
  return {
    p50Ms: median(flips.map((f) => f.p50Ms)),
    p99Ms: median(flips.map((f) => f.p99Ms)),
    maxMs: median(flips.map((f) => f.maxMs)),
    incomplete: flips.filter((f) => f.received < result.watchers).length,
    rssPerWatcher: result.memory ? result.memory.rssDelta / result.watchers : Number.NaN,
    heapPerWatcher: result.memory ? result.memory.heapDelta / result.watchers : Number.NaN,
  };
}

/** A fresh server process per count, so memory deltas are this run's alone. */
async function runOne(id, count, perConnection, options) {
  const args = [`--max-streams=${Math.max(1000, perConnection * 2)}`, `--max-watchers=${count * 2}`];
  if (id === "ours") args.push(`--from=${options["ours-from"]}`);
  const server = startChild(join(here, serverScripts[id].script), {
    cpu: options.pin ? options["server-cpu"] : undefined,
    nodeArgs: ["--expose-gc"],
    args,
    inheritExecArgv: id === "ours" && options["ours-from"] === "src",
    readyTimeoutMs: 60000,
  });
  const result = { server: id, watchers: count, perConnection, flips: [] };
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
    for (let flip = 0; flip < options.flips; flip++) {
      const status = flip % 2 === 0 ? "NOT_SERVING" : "SERVING";
      await client.request({ cmd: "arm", status });
      const { t0, t1 } = await server.request({ cmd: "set", status });
      const measured = await client.request({ cmd: "t0", t0, timeoutMs: options["flip-timeout-ms"] });
      const { id: _, ...flipResult } = measured;
      result.flips.push({ status, serverSyncMs: Number(BigInt(t1) - BigInt(t0)) / 1e6, ...flipResult });
      await new Promise((resolve) => setTimeout(resolve, 200));
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
