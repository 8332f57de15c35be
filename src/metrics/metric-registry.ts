/**
 * Counters, gauges and histograms for the `/metrics` exposition, with no dependency.
 *
 * Like `src/clock.ts`, this module sits below every layer: server/, health/, client/ and host/ record into
 * it, none owns it. The hot path is a resolved series: `family.labels(...)` builds the label text once and
 * returns an object whose `inc()`/`observe()` only add to numbers; callers keep the series they resolved
 * (in a field or an array indexed by a small number), never a string key per call.
 */

/** The metric types the exposition knows. `info` is a gauge of 1 in the text format 0.0.4. */
export type MetricType = "counter" | "gauge" | "histogram" | "info";

/** One sample a collector reports at scrape time: label values in the family's label order, and a value. */
export interface CollectedSample {
  readonly labels: readonly string[];
  readonly value: number;
}

/** A family a collector reports at scrape time (a counter's `name` without `_total`). */
export interface CollectedFamily {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "gauge" | "info";
  readonly labelNames: readonly string[];
  readonly samples: readonly CollectedSample[];
}

/**
 * Called at each scrape for state kept elsewhere (a registry's connection state, a picker's endpoints):
 * reads it and returns families. The hook a component that owns its own numbers registers with
 * {@link MetricRegistry.addCollector}; it must be quick and must not throw (one that throws is skipped).
 */
export type MetricCollector = () => readonly CollectedFamily[];

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A series of a counter: only goes up. */
export class CounterSeries {
  /** @internal */
  readonly labelText: string;
  value = 0;
  constructor(labelText: string) {
    this.labelText = labelText;
  }
  /** Adds `amount` (default 1; a negative amount is ignored: a counter never goes down). */
  inc(amount = 1): void {
    if (amount > 0) this.value += amount;
  }
}

/** A series of a gauge: set, or moved up and down. */
export class GaugeSeries {
  /** @internal */
  readonly labelText: string;
  value = 0;
  constructor(labelText: string) {
    this.labelText = labelText;
  }
  set(value: number): void {
    this.value = value;
  }
  inc(amount = 1): void {
    this.value += amount;
  }
  dec(amount = 1): void {
    this.value -= amount;
  }
}

/** A series of a histogram with fixed buckets. */
export class HistogramSeries {
  /** @internal */
  readonly labelText: string;
  /** Upper bounds, ascending, without +Inf. */
  readonly bounds: readonly number[];
  /** Observations per bucket (not cumulative); the last slot is above every bound. */
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(labelText: string, bounds: readonly number[]) {
    this.labelText = labelText;
    this.bounds = bounds;
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }
  /** Records one observation (in the family's unit: seconds for a duration). */
  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

type AnySeries = CounterSeries | GaugeSeries | HistogramSeries;

/** A named metric with its label names; its series are made once per label-value tuple. */
export class MetricFamily<S extends AnySeries> {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly labelNames: readonly string[];
  /** @internal Series by their label values (joined with NUL), in creation order. */
  readonly series = new Map<string, S>();
  readonly #make: (labelText: string) => S;

  /** @internal */
  constructor(
    name: string,
    help: string,
    type: MetricType,
    labelNames: readonly string[],
    make: (labelText: string) => S,
  ) {
    this.name = name;
    this.help = help;
    this.type = type;
    this.labelNames = labelNames;
    this.#make = make;
  }

  /**
   * The series of these label values (in {@link labelNames} order), made on first use. Resolve once and
   * keep it: this builds a string. Values must come from a bounded set (registered services, a method of
   * a route, a status name), never straight from the network.
   */
  labels(...values: string[]): S {
    if (values.length !== this.labelNames.length)
      throw new TypeError(`${this.name} takes ${this.labelNames.length} label values, got ${values.length}`);
    const key = values.join("\u0000");
    let series = this.series.get(key);
    if (series === undefined) {
      series = this.#make(labelText(this.labelNames, values));
      this.series.set(key, series);
    }
    return series;
  }

  /** Drops every series (e.g. those of a service that left); series resolved before keep counting unseen. */
  clear(): void {
    this.series.clear();
  }
}

/** Default buckets of a duration histogram, seconds: from 0.5 ms to 10 s. */
export const defaultSecondsBuckets: readonly number[] = Object.freeze([
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);

/**
 * The metrics of one process (or one host): families made here are rendered by `renderMetrics`
 * (src/metrics/exposition.ts), followed by what the collectors report.
 */
export class MetricRegistry {
  /** @internal */
  readonly families = new Map<string, MetricFamily<AnySeries>>();
  /** @internal */
  readonly collectors = new Set<MetricCollector>();

  /** A counter family; `name` ends in `_total` (the text format's name), as Prometheus' conventions ask. */
  counter(name: string, help: string, labelNames: readonly string[] = []): MetricFamily<CounterSeries> {
    if (!name.endsWith("_total")) throw new TypeError(`counter ${name} must end in _total`);
    return this.#add(name, help, "counter", labelNames, (text) => new CounterSeries(text));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): MetricFamily<GaugeSeries> {
    return this.#add(name, help, "gauge", labelNames, (text) => new GaugeSeries(text));
  }

  /** An info metric (`name` ends in `_info`): one series of value 1 carrying the labels. */
  info(name: string, help: string, labels: Readonly<Record<string, string>>): GaugeSeries {
    if (!name.endsWith("_info")) throw new TypeError(`info metric ${name} must end in _info`);
    const names = Object.keys(labels);
    const family = this.#add(name, help, "info", names, (text) => new GaugeSeries(text));
    const series = family.labels(...names.map((n) => labels[n]!));
    series.set(1);
    return series;
  }

  histogram(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    buckets: readonly number[] = defaultSecondsBuckets,
  ): MetricFamily<HistogramSeries> {
    for (let i = 1; i < buckets.length; i++)
      if (!(buckets[i]! > buckets[i - 1]!)) throw new TypeError(`${name}: buckets must be ascending`);
    const bounds = Object.freeze([...buckets]);
    return this.#add(name, help, "histogram", labelNames, (text) => new HistogramSeries(text, bounds));
  }

  /** Adds a collector asked at each scrape (see {@link MetricCollector}); returns its removal. */
  addCollector(collector: MetricCollector): () => void {
    this.collectors.add(collector);
    return () => {
      this.collectors.delete(collector);
    };
  }

  #add<S extends AnySeries>(
    name: string,
    help: string,
    type: MetricType,
    labelNames: readonly string[],
    make: (labelText: string) => S,
  ): MetricFamily<S> {
    if (!metricName.test(name)) throw new TypeError(`invalid metric name ${JSON.stringify(name)}`);
    for (const label of labelNames)
      if (!labelName.test(label) || label.startsWith("__") || label === "le")
        throw new TypeError(`${name}: invalid label name ${JSON.stringify(label)}`);
    const existing = this.families.get(name);
    if (existing !== undefined) {
      if (existing.type !== type || existing.labelNames.join() !== labelNames.join())
        throw new TypeError(`metric ${name} already exists with another type or labels`);
      return existing as unknown as MetricFamily<S>;
    }
    const family = new MetricFamily<S>(name, help, type, Object.freeze([...labelNames]), make);
    this.families.set(name, family as unknown as MetricFamily<AnySeries>);
    return family;
  }
}

/** `a="x",b="y"` with values escaped as both text formats require (backslash, quote, newline). @internal */
export function labelText(names: readonly string[], values: readonly string[]): string {
  let text = "";
  for (let i = 0; i < names.length; i++) {
    if (i > 0) text += ",";
    text += `${names[i]}="${escapeLabelValue(values[i]!)}"`;
  }
  return text;
}

/** @internal */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
