// Where a watcher's memory goes: the JS heap each Watch stream adds to our server and to the bare node:http2
// server (servers/ceiling-h2.mjs), by object type. For each server, a fresh process, a heap snapshot after GC
// before any watcher and one with N watchers open (lib/watch-client.mjs, 100 per connection); the table is
// (after − before) ÷ N per type, ours beside the ceiling, and the difference, largest first.
// `node bench/watch-heap.mjs --help`.
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseOptions, usage } from "./lib/args.mjs";
import { startChild } from "./lib/children.mjs";
import { markdownTable } from "./lib/report.mjs";

const spec = {
  watchers: { default: 4000, help: "watchers opened in each server" },
  "per-connection": { default: 100, help: "watch streams per HTTP/2 connection" },
  top: { default: 16, help: "rows shown (largest differences first)" },
  "ours-from": {
    default: "dist",
    help: "load our server from dist (built) or src (needs a TypeScript loader)",
  },
};
const here = fileURLToPath(new URL(".", import.meta.url));

/** Self size and count per object type (strings and code lumped together) in a .heapsnapshot file. */
export function heapByType(file) {
  const snapshot = JSON.parse(readFileSync(file, "utf8"));
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = ["type", "name", "self_size"].map((f) => fields.indexOf(f));
  const nodes = snapshot.nodes;
  const totals = new Map();
  for (let i = 0; i < nodes.length; i += fields.length) {
    const type = types[nodes[i + typeAt]];
    const name = type.includes("string")
      ? "(strings)"
      : type === "code"
        ? "(code)"
        : snapshot.strings[nodes[i + nameAt]];
    const key = `${type}: ${name.slice(0, 60)}`;
    const entry = totals.get(key) ?? { bytes: 0, count: 0 };
    entry.bytes += nodes[i + sizeAt];
    entry.count++;
    totals.set(key, entry);
  }
  return totals;
}

async function perWatcher(id, options) {
  const server = startChild(join(here, `servers/${id === "ours" ? "ours" : "ceiling-h2"}.mjs`), {
    nodeArgs: ["--expose-gc"],
    // --from only for ours (the ceiling has no build to pick); from src, the child needs this process's
    // TypeScript loader, as in watch-fanout.mjs. Without both, a clean checkout (no dist/) failed here.
    args: [
      "--max-streams=1000",
      `--max-watchers=${options.watchers * 2}`,
      ...(id === "ours" ? [`--from=${options["ours-from"]}`, "--max-watchers-per-address=Infinity"] : []),
    ],
    inheritExecArgv: id === "ours" && options["ours-from"] === "src",
  });
  const files = [
    join(tmpdir(), `watch-heap-${id}-before.heapsnapshot`),
    join(tmpdir(), `watch-heap-${id}-after.heapsnapshot`),
  ];
  let client;
  try {
    const ready = await server.ready;
    await new Promise((resolve) => setTimeout(resolve, 300));
    await server.request({ cmd: "heap", path: files[0] });
    client = startChild(join(here, "lib/watch-client.mjs"), {
      args: [
        `--port=${ready.h2}`,
        `--watchers=${options.watchers}`,
        `--per-connection=${options["per-connection"]}`,
      ],
      readyTimeoutMs: 120000,
    });
    const opened = await client.ready;
    if (opened.initialReceived < options.watchers)
      throw new Error(`${id}: only ${opened.initialReceived} watchers opened`);
    await server.request({ cmd: "heap", path: files[1] });
    const [before, after] = files.map(heapByType);
    const result = new Map();
    for (const [key, { bytes, count }] of after) {
      const base = before.get(key) ?? { bytes: 0, count: 0 };
      result.set(key, {
        bytes: (bytes - base.bytes) / options.watchers,
        count: (count - base.count) / options.watchers,
      });
    }
    return result;
  } finally {
    await client?.stop();
    await server.stop();
    for (const file of files) rmSync(file, { force: true });
  }
}

async function main() {
  const options = parseOptions(spec);
  if (options.help) {
    console.log(usage("node bench/watch-heap.mjs [flags]", spec));
    return;
  }
  const ours = await perWatcher("ours", options);
  const ceiling = await perWatcher("ceiling", options);
  const zero = { bytes: 0, count: 0 };
  const rows = [...new Set([...ours.keys(), ...ceiling.keys()])]
    .filter((key) => !key.endsWith("(code)"))
    .map((key) => ({ key, ours: ours.get(key) ?? zero, ceiling: ceiling.get(key) ?? zero }))
    .map((row) => ({ ...row, difference: row.ours.bytes - row.ceiling.bytes }));
  const sum = (pick) => rows.reduce((total, row) => total + pick(row), 0);
  rows.sort((a, b) => Math.abs(b.difference) - Math.abs(a.difference));
  const cell = ({ bytes, count }) => `${bytes.toFixed(0)} B (${count.toFixed(2)})`;
  console.log(
    markdownTable(
      ["object type", "ours per watcher (objects)", "ceiling per watcher (objects)", "ours − ceiling"],
      [
        ...rows
          .slice(0, options.top)
          .map((row) => [row.key, cell(row.ours), cell(row.ceiling), `${row.difference.toFixed(0)} B`]),
        [
          "all (code excepted)",
          `${sum((r) => r.ours.bytes).toFixed(0)} B`,
          `${sum((r) => r.ceiling.bytes).toFixed(0)} B`,
          `${sum((r) => r.difference).toFixed(0)} B`,
        ],
      ],
    ),
  );
  console.log(
    `\nNode ${process.version}; ${options.watchers} gRPC Watch streams, ${options["per-connection"]} per connection; heap snapshots after GC, (after − before) ÷ watchers.`,
  );
}

main().catch((error) => {
  console.error(error.stack ?? String(error));
  process.exitCode = 1;
});
