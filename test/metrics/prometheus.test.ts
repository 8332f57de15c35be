// /metrics read by the real Prometheus tools: `promtool check metrics` lints serve's exposition, and a
// Prometheus server (its own temp config and storage) scrapes a running `serve` every second; its query API
// must return the status and check series with the right values, and a status flip. Skipped only when
// Debian's `prometheus` package (prometheus, promtool) is missing.
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { createHealthClient } from "../../src/client/health-client.ts";
import { stderrLine } from "../fixtures/node-process.ts";
import { startCli } from "../fixtures/run-cli.ts";
import { listenLocal, unusedPort } from "../fixtures/start-server.ts";
import { needs } from "../fixtures/tools.ts";

/** Runs `promtool check metrics` over `text`: its exit code and what it printed. */
function promtoolCheck(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("promtool", ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
    child.stdin.end(text);
  });
}

async function scrape(url: string, accept?: string): Promise<{ type: string; body: string }> {
  const response = await fetch(url, accept === undefined ? {} : { headers: { accept } });
  return { type: response.headers.get("content-type") ?? "", body: await response.text() };
}

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

/** Asks Prometheus `query` until `accept` takes the answer (or 30 s pass). */
async function queryUntil(
  prometheus: string,
  query: string,
  accept: (samples: Sample[]) => boolean,
): Promise<Sample[]> {
  const deadline = Date.now() + 30_000;
  let last: Sample[] = [];
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${prometheus}/api/v1/query?query=${encodeURIComponent(query)}`);
      const answer = (await response.json()) as { status: string; data?: { result: Sample[] } };
      if (answer.status === "success") {
        last = answer.data?.result ?? [];
        if (accept(last)) return last;
      }
    } catch {
      // Not up yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`Prometheus never answered ${query} as wanted; last: ${JSON.stringify(last)}`);
}

const sampleValue = (samples: Sample[], labels: Record<string, string>): string | undefined =>
  samples.find((s) => Object.entries(labels).every(([k, v]) => (s.metric[k] ?? "") === v))?.value[1];

t.test(
  "serve's /metrics through promtool and a scraping Prometheus",
  needs("prometheus", "promtool"),
  async (t) => {
    // The check's target: a TCP listener, closed later to flip "db".
    const target = await listenLocal(
      net.createServer((socket) => socket.destroy()),
      t,
    );
    const serve = startCli(t, [
      "serve",
      "--port=0",
      "--admin",
      "--sample",
      "--metrics=127.0.0.1:0",
      `-check=db=tcp://127.0.0.1:${target.port}`,
      "-check-interval=200ms",
      "-failure-threshold=1",
    ]);
    const [, address] = await serve.line(/serving .* on http:\/\/(\S+) /);
    const [, metricsUrl] = await serve.line(/metrics on (\S+)/);
    await serve.line(/"db" NOT_SERVING -> SERVING/);

    // Calls, so that the call series exist: Checks over gRPC, one of an unknown service.
    const client = createHealthClient(`http://${address}`);
    t.teardown(() => client.close());
    await client.check("greet.GreetService");
    await client.check("db");
    await t.rejects(client.check("nope"), { code: 5 });

    const text = await scrape(metricsUrl!);
    t.match(text.type, /^text\/plain; version=0\.0\.4/);
    const lint = await promtoolCheck(text.body);
    t.same(lint, { code: 0, output: "" }, "promtool check metrics: no problems");
    t.match(text.body, 'triple_health_service_status{service="db",status="SERVING"} 1');
    t.match(
      text.body,
      /triple_health_server_calls_total\{service="grpc.health.v1.Health",method="Check",protocol="grpc",code="OK"\} 2/,
    );
    t.match(
      text.body,
      /triple_health_server_calls_total\{service="grpc.health.v1.Health",method="Check",protocol="grpc",code="NOT_FOUND"\} 1/,
    );
    t.notMatch(text.body, /nope/, "a name from the network is no label value");

    // The admin surface's /metrics, as OpenMetrics when asked.
    const om = await scrape(`http://${address}/metrics`, "application/openmetrics-text; version=1.0.0");
    t.match(om.type, /^application\/openmetrics-text; version=1\.0\.0/);
    t.match(om.body, /# TYPE triple_health_check_attempts counter\n/);
    t.match(om.body, /# EOF\n$/);
    t.same(await promtoolCheck((await scrape(`http://${address}/metrics`)).body), { code: 0, output: "" });

    // A proxy in front of serve, with its own -metrics listener.
    const proxy = startCli(t, [
      "proxy",
      "--listen=127.0.0.1:0",
      `--upstream=http://${address}`,
      "--metrics=:0",
    ]);
    const [, proxyMetricsUrl] = await stderrLine(proxy, /metrics on (\S+)/);
    // The proxy routes once its upstream's health answered.
    let proxyText = await scrape(proxyMetricsUrl!);
    for (let i = 0; i < 100 && !/proxy_upstream_healthy\{[^}]*\} 1/.test(proxyText.body); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      proxyText = await scrape(proxyMetricsUrl!);
    }
    t.same(
      await promtoolCheck(proxyText.body),
      { code: 0, output: "" },
      "promtool: the proxy's exposition too",
    );
    t.match(
      proxyText.body,
      `triple_health_proxy_upstream_status{upstream="http://${address}",status="SERVING"} 1`,
    );
    t.match(proxyText.body, 'triple_health_service_status{service="",status="SERVING"} 1');

    // A Prometheus server of its own, scraping serve every second (OpenMetrics: Prometheus asks for it first).
    const dir = await mkdtemp(join(tmpdir(), "th-prometheus-"));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const port = await unusedPort();
    const metricsHost = new URL(metricsUrl!).host;
    await writeFile(
      join(dir, "prometheus.yml"),
      [
        "global:",
        "  scrape_interval: 1s",
        "  scrape_timeout: 1s",
        "scrape_configs:",
        "  - job_name: triple-health",
        "    static_configs:",
        `      - targets: ["${metricsHost}"]`,
        "  - job_name: proxy",
        "    static_configs:",
        `      - targets: ["${new URL(proxyMetricsUrl!).host}"]`,
        "",
      ].join("\n"),
    );
    const prometheus = spawn(
      "prometheus",
      [
        `--config.file=${join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: "ignore" },
    );
    t.teardown(() => {
      prometheus.kill("SIGKILL");
    });
    const api = `http://127.0.0.1:${port}`;

    const up = await queryUntil(api, "up", (s) => sampleValue(s, { job: "triple-health" }) === "1");
    t.equal(sampleValue(up, { job: "triple-health" }), "1", "the target is up: Prometheus parsed the scrape");
    const status = await queryUntil(api, "triple_health_service_status", (s) => s.length >= 9);
    t.equal(sampleValue(status, { service: "db", status: "SERVING" }), "1");
    t.equal(sampleValue(status, { service: "db", status: "NOT_SERVING" }), "0");
    t.equal(sampleValue(status, { service: "greet.GreetService", status: "SERVING" }), "1");
    t.equal(sampleValue(status, { service: "", status: "SERVING" }), "1", 'the whole server ("")');
    const attempts = await queryUntil(api, "triple_health_check_attempts_total", (s) => s.length === 1);
    t.ok(Number(sampleValue(attempts, { check: "db" })) >= 1, "the check's attempts");
    const duration = await queryUntil(
      api,
      'triple_health_check_duration_seconds_bucket{le="+Inf"}',
      (s) => s.length === 1,
    );
    t.ok(Number(sampleValue(duration, { check: "db" })) >= 1, "the check's duration histogram");
    const info = await queryUntil(api, "triple_health_build_info", (s) => s.length === 2);
    t.equal(sampleValue(info, { job: "triple-health", node: process.version }), "1");
    const upstream = await queryUntil(api, "triple_health_proxy_upstream_status", (s) => s.length === 3);
    t.equal(
      sampleValue(upstream, { upstream: `http://${address}`, status: "SERVING" }),
      "1",
      "the proxy's upstream",
    );

    // The flip: the target goes away, db turns NOT_SERVING, and Prometheus sees it.
    await target.close();
    await serve.line(/"db" SERVING -> NOT_SERVING/);
    const flipped = await queryUntil(
      api,
      'triple_health_service_status{service="db"}',
      (s) => sampleValue(s, { status: "NOT_SERVING" }) === "1",
    );
    t.equal(sampleValue(flipped, { status: "SERVING" }), "0");
    const changes = await queryUntil(
      api,
      'triple_health_status_changes_total{service="db",status="NOT_SERVING"}',
      (s) => s.length === 1 && Number(s[0]!.value[1]) >= 2,
    );
    t.equal(changes[0]!.metric["source"], "db", "changed by the check");
    const failures = await queryUntil(
      api,
      "triple_health_check_failures_total",
      (s) => Number(sampleValue(s, { check: "db" })) >= 1,
    );
    t.ok(failures.length === 1);
    t.equal(await proxy.stop("SIGTERM"), 0);
    t.equal(await serve.stop("SIGTERM"), 0);
  },
);
