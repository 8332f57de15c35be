import {
  type CollectedFamily,
  escapeLabelValue,
  HistogramSeries,
  labelText,
  type MetricRegistry,
  type MetricType,
} from "./metric-registry.ts";

/** The two exposition formats: Prometheus text 0.0.4, or OpenMetrics 1.0. */
export type ExpositionFormat = "text" | "openmetrics";

/** `Content-Type` of each format. */
export const expositionContentType: Readonly<Record<ExpositionFormat, string>> = Object.freeze({
  text: "text/plain; version=0.0.4; charset=utf-8",
  openmetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8",
});

/**
 * The format a scraper's `Accept` asks for: OpenMetrics when it lists `application/openmetrics-text`
 * (without a version, or version 1.0.0) with a weight at least that of `text/plain`; else text 0.0.4, which
 * every scraper reads. Prometheus sends both, OpenMetrics first.
 */
export function negotiateExposition(accept: string | undefined): ExpositionFormat {
  if (accept === undefined) return "text";
  let openMetrics = -1;
  let text = -1;
  for (const part of accept.split(",")) {
    const [type = "", ...params] = part.split(";").map((p) => p.trim().toLowerCase());
    let q = 1;
    let version: string | undefined;
    for (const param of params) {
      const eq = param.indexOf("=");
      const key = param.slice(0, eq).trim();
      const value = param.slice(eq + 1).trim();
      if (key === "q") q = Number.parseFloat(value);
      else if (key === "version") version = value;
    }
    if (!(q > 0)) continue;
    if (type === "application/openmetrics-text" && (version === undefined || version === "1.0.0"))
      openMetrics = Math.max(openMetrics, q);
    else if (type === "text/plain" || type === "*/*" || type === "text/*") text = Math.max(text, q);
  }
  return openMetrics >= 0 && openMetrics >= text ? "openmetrics" : "text";
}

/**
 * Renders every family of `registry` and then what its collectors report, in `format`. OpenMetrics: counters
 * declared without `_total` (their samples keep it), info metrics as `info`, integer bucket bounds as
 * `1.0`, and the closing `# EOF`; no `_created` series (optional in OpenMetrics 1.0).
 */
export function renderMetrics(registry: MetricRegistry, format: ExpositionFormat): string {
  const om = format === "openmetrics";
  let out = "";
  for (const family of registry.families.values()) {
    out += header(family.name, family.help, family.type, om);
    for (const series of family.series.values()) {
      if (series instanceof HistogramSeries) out += histogramLines(family.name, series, om);
      else out += sample(family.name, series.labelText, series.value);
    }
  }
  // Collected families, merged by name (two collectors may report the same family, e.g. two hosts).
  const collected = new Map<string, { family: CollectedFamily; lines: string }>();
  for (const collector of registry.collectors) {
    let families: readonly CollectedFamily[];
    try {
      families = collector();
    } catch {
      continue;
    }
    for (const family of families) {
      const name = family.type === "counter" ? `${family.name}_total` : family.name;
      let entry = collected.get(name);
      if (entry === undefined) {
        if (registry.families.has(name)) continue;
        entry = { family, lines: "" };
        collected.set(name, entry);
      }
      for (const s of family.samples)
        entry.lines += sample(name, labelText(family.labelNames, s.labels), s.value);
    }
  }
  for (const [name, { family, lines }] of collected)
    out += header(name, family.help, family.type, om) + lines;
  if (om) out += "# EOF\n";
  return out;
}

function header(name: string, help: string, type: MetricType, om: boolean): string {
  if (!om) {
    const textType = type === "info" ? "gauge" : type;
    return `# HELP ${name} ${help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}\n# TYPE ${name} ${textType}\n`;
  }
  // OpenMetrics names the family without the sample suffix.
  let base = name;
  if (type === "counter") base = name.slice(0, -"_total".length);
  else if (type === "info") base = name.slice(0, -"_info".length);
  return `# HELP ${base} ${escapeLabelValue(help)}\n# TYPE ${base} ${type}\n`;
}

function sample(name: string, labels: string, value: number): string {
  return labels === "" ? `${name} ${number(value)}\n` : `${name}{${labels}} ${number(value)}\n`;
}

function histogramLines(name: string, series: HistogramSeries, om: boolean): string {
  const prefix = series.labelText === "" ? "" : `${series.labelText},`;
  let out = "";
  let cumulative = 0;
  for (let i = 0; i < series.bounds.length; i++) {
    cumulative += series.counts[i]!;
    out += `${name}_bucket{${prefix}le="${bound(series.bounds[i]!, om)}"} ${cumulative}\n`;
  }
  out += `${name}_bucket{${prefix}le="+Inf"} ${series.count}\n`;
  const labels = series.labelText === "" ? "" : `{${series.labelText}}`;
  out += `${name}_sum${labels} ${number(series.sum)}\n`;
  out += `${name}_count${labels} ${series.count}\n`;
  return out;
}

function bound(value: number, om: boolean): string {
  return om && Number.isInteger(value) ? value.toFixed(1) : number(value);
}

function number(value: number): string {
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return Number.isNaN(value) ? "NaN" : String(value);
}
