// Markdown tables and number formatting for the bench reports.

/** A markdown table from a header row and body rows (cells already strings). */
export function markdownTable(header, rows) {
  const widths = header.map((cell, i) =>
    Math.max(3, cell.length, ...rows.map((row) => String(row[i]).length)),
  );
  const line = (cells) => `| ${cells.map((cell, i) => String(cell).padEnd(widths[i])).join(" | ")} |`;
  // The separator row as Biome's markdown formatter writes it, so a pasted table stays lint-clean.
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** 12345.6 → "12,346". */
export function formatCount(value) {
  return Number.isFinite(value) ? Math.round(value).toLocaleString("en-US") : "–";
}

/** Milliseconds with two decimals. */
export function formatMs(value) {
  return Number.isFinite(value) ? value.toFixed(2) : "–";
}

/** A ratio as "0.93x". */
export function formatRatio(value) {
  return Number.isFinite(value) ? `${value.toFixed(2)}x` : "–";
}

/** Bytes as KiB with one decimal. */
export function formatKiB(bytes) {
  return Number.isFinite(bytes) ? `${(bytes / 1024).toFixed(2)} KiB` : "–";
}
