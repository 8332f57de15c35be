// Reads a V8 .cpuprofile (from `node --cpu-prof`) and sums self time per function.
import { readFileSync } from "node:fs";

/**
 * Self time per function, highest first.
 * @returns {{ name: string, where: string, selfMs: number, percent: number }[]}
 */
export function topSelfTime(file, limit = Number.POSITIVE_INFINITY) {
  const profile = JSON.parse(readFileSync(file, "utf8"));
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const counts = new Map();
  for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
  const intervalMs = (profile.endTime - profile.startTime) / 1000 / Math.max(1, profile.samples.length);
  const totals = new Map();
  for (const [id, count] of counts) {
    const { functionName, url, lineNumber } = byId.get(id).callFrame;
    const where = url ? `${shortUrl(url)}:${lineNumber + 1}` : "";
    const key = `${functionName || "(anonymous)"}\t${where}`;
    totals.set(key, (totals.get(key) ?? 0) + count);
  }
  const total = profile.samples.length;
  return [...totals]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([key, count]) => {
      const [name, where] = key.split("\t");
      return { name, where, selfMs: count * intervalMs, percent: (100 * count) / total };
    });
}

function shortUrl(url) {
  const modules = url.lastIndexOf("/node_modules/");
  if (modules >= 0) return url.slice(modules + 14);
  for (const folder of ["/dist/", "/src/"]) {
    const marker = url.lastIndexOf(folder);
    if (marker >= 0) return url.slice(marker + 1);
  }
  return url;
}

/** Where self time went, by kind of code: this project's, node's own (node:…), packages, GC, idle, native. */
export function selfTimeByArea(entries) {
  const areas = new Map();
  for (const entry of entries) {
    const area = areaOf(entry);
    areas.set(area, (areas.get(area) ?? 0) + entry.percent);
  }
  return [...areas].sort((a, b) => b[1] - a[1]).map(([area, percent]) => ({ area, percent }));
}

function areaOf({ name, where }) {
  if (name === "(idle)") return "idle";
  if (name === "(garbage collector)") return "GC";
  if (where.startsWith("dist/") || where.startsWith("src/")) return "this project";
  if (where.startsWith("node:")) return "node internals (JS)";
  if (where === "") return name === "(program)" ? "native (program)" : "native / builtins";
  return "packages";
}
