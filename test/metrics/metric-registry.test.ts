// The metrics module alone: families and series, histogram buckets, collectors, and both exposition formats
// byte for byte (the real Prometheus reads them in prometheus.test.ts).
import t from "tap";
import { expositionContentType, negotiateExposition, renderMetrics } from "../../src/metrics/exposition.ts";
import { MetricRegistry } from "../../src/metrics/metric-registry.ts";
import { addProcessMetrics } from "../../src/metrics/process-metrics.ts";

t.test("counters, gauges and histograms in the text format 0.0.4", async (t) => {
  const metrics = new MetricRegistry();
  const calls = metrics.counter("x_calls_total", "Calls.\nSecond line \\ here.", ["service", "code"]);
  const ok = calls.labels("a", "OK");
  ok.inc();
  ok.inc(2);
  ok.inc(-5);
  t.equal(calls.labels("a", "OK"), ok, "the same series for the same values");
  calls.labels('we"ird\\\n', "OK").inc();
  const open = metrics.gauge("x_open", "Open now.").labels();
  open.set(5);
  open.dec();
  open.inc(2);
  const hist = metrics.histogram("x_seconds", "Durations.", ["m"], [0.1, 1]).labels("q");
  hist.observe(0.05);
  hist.observe(0.1);
  hist.observe(0.5);
  hist.observe(3);
  metrics.info("x_build_info", "Build.", { version: "1.2.3" });
  t.equal(
    renderMetrics(metrics, "text"),
    [
      "# HELP x_calls_total Calls.\\nSecond line \\\\ here.",
      "# TYPE x_calls_total counter",
      'x_calls_total{service="a",code="OK"} 3',
      'x_calls_total{service="we\\"ird\\\\\\n",code="OK"} 1',
      "# HELP x_open Open now.",
      "# TYPE x_open gauge",
      "x_open 6",
      "# HELP x_seconds Durations.",
      "# TYPE x_seconds histogram",
      'x_seconds_bucket{m="q",le="0.1"} 2',
      'x_seconds_bucket{m="q",le="1"} 3',
      'x_seconds_bucket{m="q",le="+Inf"} 4',
      'x_seconds_sum{m="q"} 3.65',
      'x_seconds_count{m="q"} 4',
      "# HELP x_build_info Build.",
      "# TYPE x_build_info gauge",
      'x_build_info{version="1.2.3"} 1',
      "",
    ].join("\n"),
  );
});

t.test("OpenMetrics: family names without _total/_info, info type, 1.0 bounds, # EOF", async (t) => {
  const metrics = new MetricRegistry();
  metrics.counter("y_total", 'Say "hi".').labels().inc();
  metrics.histogram("y_seconds", "D.", [], [1, 2.5]).labels().observe(2);
  metrics.info("y_build_info", "B.", { node: "v20" });
  metrics.gauge("y_weird", "W.").labels().set(Number.NaN);
  metrics.gauge("y_inf", "I.", ["s"]).labels("+").set(Number.POSITIVE_INFINITY);
  metrics.gauge("y_inf", "I.", ["s"]).labels("-").set(Number.NEGATIVE_INFINITY);
  t.equal(
    renderMetrics(metrics, "openmetrics"),
    [
      '# HELP y Say \\"hi\\".',
      "# TYPE y counter",
      "y_total 1",
      "# HELP y_seconds D.",
      "# TYPE y_seconds histogram",
      'y_seconds_bucket{le="1.0"} 0',
      'y_seconds_bucket{le="2.5"} 1',
      'y_seconds_bucket{le="+Inf"} 1',
      "y_seconds_sum 2",
      "y_seconds_count 1",
      "# HELP y_build B.",
      "# TYPE y_build info",
      'y_build_info{node="v20"} 1',
      "# HELP y_weird W.",
      "# TYPE y_weird gauge",
      "y_weird NaN",
      "# HELP y_inf I.",
      "# TYPE y_inf gauge",
      'y_inf{s="+"} +Inf',
      'y_inf{s="-"} -Inf',
      "# EOF",
      "",
    ].join("\n"),
  );
});

t.test("collectors: read at each scrape, merged by name, a throwing one skipped, removable", async (t) => {
  const metrics = new MetricRegistry();
  let open = 1;
  const remove = metrics.addCollector(() => [
    {
      name: "z_open",
      help: "Open.",
      type: "gauge",
      labelNames: ["k"],
      samples: [{ labels: ["a"], value: open }],
    },
    {
      name: "z_refused",
      help: "Refused.",
      type: "counter",
      labelNames: [],
      samples: [{ labels: [], value: 4 }],
    },
  ]);
  metrics.addCollector(() => [
    {
      name: "z_open",
      help: "Open.",
      type: "gauge",
      labelNames: ["k"],
      samples: [{ labels: ["b"], value: 2 }],
    },
  ]);
  metrics.addCollector(() => {
    throw new Error("broken collector");
  });
  // A collected family may not shadow a registered one.
  metrics.gauge("z_own", "Own.").labels().set(1);
  metrics.addCollector(() => [
    { name: "z_own", help: "Dup.", type: "gauge", labelNames: [], samples: [{ labels: [], value: 9 }] },
  ]);
  open = 3;
  const text = renderMetrics(metrics, "text");
  t.match(text, /# TYPE z_open gauge\nz_open\{k="a"\} 3\nz_open\{k="b"\} 2\n/);
  t.match(text, /# TYPE z_refused_total counter\nz_refused_total 4\n/);
  t.notMatch(text, /z_own 9/);
  remove();
  t.notMatch(renderMetrics(metrics, "text"), /z_refused/);
});

t.test("names, labels and buckets are checked", async (t) => {
  const metrics = new MetricRegistry();
  t.throws(() => metrics.counter("no_suffix", "x"), /must end in _total/);
  t.throws(() => metrics.info("x_build", "x", {}), /must end in _info/);
  t.throws(() => metrics.gauge("9bad", "x"), /invalid metric name/);
  t.throws(() => metrics.gauge("ok", "x", ["le"]), /invalid label name/);
  t.throws(() => metrics.gauge("ok", "x", ["__x"]), /invalid label name/);
  t.throws(() => metrics.gauge("ok", "x", ["a-b"]), /invalid label name/);
  t.throws(() => metrics.histogram("h", "x", [], [1, 1]), /ascending/);
  const g = metrics.gauge("same", "x", ["a"]);
  t.equal(metrics.gauge("same", "x", ["a"]), g, "asking again gives the family");
  t.throws(() => metrics.counter("same_total", "x").labels("extra"), /takes 0 label values/);
  t.throws(() => metrics.gauge("same", "x", ["b"]), /already exists/);
  g.labels("v").set(1);
  g.clear();
  t.equal(g.series.size, 0);
});

t.test("Accept negotiation", async (t) => {
  t.equal(negotiateExposition(undefined), "text");
  t.equal(negotiateExposition("text/plain"), "text");
  t.equal(negotiateExposition("*/*"), "text");
  t.equal(negotiateExposition("application/openmetrics-text"), "openmetrics");
  // What Prometheus 2.x sends.
  t.equal(
    negotiateExposition(
      "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    ),
    "openmetrics",
  );
  t.equal(negotiateExposition("application/openmetrics-text;version=0.0.1"), "text", "an old version");
  t.equal(negotiateExposition("application/openmetrics-text;q=0, text/plain"), "text", "q=0 refuses");
  t.equal(negotiateExposition("text/plain;q=1, application/openmetrics-text;q=0.5"), "text");
  t.match(expositionContentType.openmetrics, /^application\/openmetrics-text; version=1\.0\.0/);
  t.match(expositionContentType.text, /^text\/plain; version=0\.0\.4/);
});

t.test("process metrics: start time and build info", async (t) => {
  const metrics = new MetricRegistry();
  addProcessMetrics(metrics, "9.9.9");
  const text = renderMetrics(metrics, "text");
  const start = Number(/^process_start_time_seconds (\S+)$/m.exec(text)?.[1]);
  t.ok(Math.abs(start - (Date.now() / 1000 - process.uptime())) < 2, "close to the process start");
  t.match(text, `triple_health_build_info{version="9.9.9",node="${process.version}"} 1`);
});
