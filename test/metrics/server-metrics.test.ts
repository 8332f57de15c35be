// What a server records into its metrics, read back from the exposition: calls by route, protocol and code
// (unary, server streams, held Watch streams, unknown paths), Watch refusals, the port's counters, health
// and check series; /metrics on the admin surface behind its guards, and on a listener of its own.
import net from "node:net";
import t from "tap";
import { run as runProxy } from "../../src/cli/commands/proxy.ts";
import { run as runServe } from "../../src/cli/commands/serve.ts";
import { parseMetricsAddress } from "../../src/cli/metrics-flags.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { createAdminHandler } from "../../src/health/admin-handler.ts";
import { HealthCheckRunner } from "../../src/health/checks.ts";
import { instrumentCheck, instrumentHealth, maxChangeSeries } from "../../src/health/health-metrics.ts";
import { HealthRegistry } from "../../src/health/registry.ts";
import { instrumentHost } from "../../src/host/host-metrics.ts";
import { MetricsListener } from "../../src/host/metrics-listener.ts";
import { renderMetrics } from "../../src/metrics/exposition.ts";
import { MetricRegistry } from "../../src/metrics/metric-registry.ts";
import { createMetricsHandler } from "../../src/server/metrics-handler.ts";
import { FakeClock } from "../../src/testing/fake-clock.ts";
import { connect, grpcHeaders, h2once } from "../fixtures/h2-request.ts";
import { captureIo } from "../fixtures/run-cli.ts";
import { listenLocal } from "../fixtures/start-server.ts";
import {
  checkRequestBytes,
  envelope,
  h1request,
  startProbeServer,
  until,
} from "../server/fixtures/helpers.ts";

const line = (text: string, series: string): number | undefined => {
  const escaped = series.replace(/[{}()[\]|.*+?^$\\]/g, "\\$&");
  const match = new RegExp(`^${escaped} (\\S+)$`, "m").exec(text);
  return match === null ? undefined : Number(match[1]);
};

t.test("calls by service, method, protocol and code, with a latency histogram", async (t) => {
  const metrics = new MetricRegistry();
  const { server, port, url } = await startProbeServer(t, {
    metrics,
    healthService: { metrics, maxWatchersPerConnection: 1 },
    http2: { maxConcurrentStreams: 10 },
  });
  instrumentHost(metrics, server);
  server.health.set("svc", ServingStatus.Serving);
  const check = (service: string) =>
    h2once(port, grpcHeaders(), { body: envelope(checkRequestBytes(service)) });
  t.equal((await check("svc")).grpcStatus, 0);
  t.equal((await check("unknown-from-the-network")).grpcStatus, 5);
  // triple (Connect unary, JSON) over HTTP/1.1
  const triple = await h1request(`${url}/grpc.health.v1.Health/Check`, {
    headers: { "content-type": "application/json" },
    body: '{"service":"svc"}',
  });
  t.equal(triple.status, 200);
  // A server stream that ends, and one that fails.
  const count = await h2once(port, grpcHeaders("/test.Probe/Count"), {
    body: envelope(checkRequestBytes("2")),
  });
  t.equal(count.grpcStatus, 0);
  const lost = await h2once(port, grpcHeaders("/test.Probe/Count"), {
    body: envelope(checkRequestBytes("1fail")),
  });
  t.equal(lost.grpcStatus, 15);
  // An unknown path: counted as service and method "other", never by its name.
  t.equal(
    (await h2once(port, grpcHeaders("/evil.Name/Method"), { body: envelope(Buffer.alloc(0)) })).grpcStatus,
    12,
  );
  // A Watch with a deadline (held, then DEADLINE_EXCEEDED), and a Watch cancelled by the client.
  const watchDeadline = await h2once(
    port,
    grpcHeaders("/grpc.health.v1.Health/Watch", { "grpc-timeout": "50m" }),
    {
      body: envelope(checkRequestBytes("svc")),
    },
  );
  t.equal(watchDeadline.grpcStatus, 4);
  await h2once(port, grpcHeaders("/grpc.health.v1.Health/Watch"), {
    body: envelope(checkRequestBytes("svc")),
    resetAfterMs: 20,
  });
  await until(() => server.health.watcherCount === 0);

  const text = renderMetrics(metrics, "text");
  const calls = (method: string, protocol: string, code: string, service = "grpc.health.v1.Health") =>
    line(
      text,
      `triple_health_server_calls_total{service="${service}",method="${method}",protocol="${protocol}",code="${code}"}`,
    );
  t.equal(calls("Check", "grpc", "OK"), 1);
  t.equal(calls("Check", "grpc", "NOT_FOUND"), 1);
  t.equal(calls("Check", "triple", "OK"), 1);
  t.equal(calls("Count", "grpc", "OK", "test.Probe"), 1);
  t.equal(calls("Count", "grpc", "DATA_LOSS", "test.Probe"), 1);
  t.equal(calls("other", "grpc", "UNIMPLEMENTED", "other"), 1);
  t.equal(calls("Watch", "grpc", "DEADLINE_EXCEEDED"), 1);
  t.equal(calls("Watch", "grpc", "CANCELLED"), 1);
  t.notMatch(text, /unknown-from-the-network|evil/, "names from the network never become label values");
  t.equal(
    line(
      text,
      'triple_health_server_call_duration_seconds_count{service="grpc.health.v1.Health",method="Check",protocol="grpc"}',
    ),
    2,
  );
  const watchSeconds = line(
    text,
    'triple_health_server_call_duration_seconds_sum{service="grpc.health.v1.Health",method="Watch",protocol="grpc"}',
  );
  t.ok(watchSeconds !== undefined && watchSeconds >= 0.05, "a held stream's duration is its lifetime");
  t.equal(line(text, "triple_health_connections_refused_total"), 0);
  t.equal(line(text, "triple_health_server_streams"), 0);
});

t.test("Watch streams refused by a limit are counted", async (t) => {
  const metrics = new MetricRegistry();
  const registry = new HealthRegistry({ maxWatchers: 1 });
  instrumentHealth(metrics, registry);
  const { server, port } = await startProbeServer(t, {
    health: registry,
    metrics,
    healthService: { metrics },
  });
  const open = h2once(port, grpcHeaders("/grpc.health.v1.Health/Watch"), {
    body: envelope(checkRequestBytes("")),
    timeoutMs: 300,
  });
  await until(() => server.health.watcherCount === 1);
  t.match(renderMetrics(metrics, "text"), /^triple_health_watch_streams 1$/m);
  const refused = await h2once(port, grpcHeaders("/grpc.health.v1.Health/Watch"), {
    body: envelope(checkRequestBytes("")),
  });
  t.equal(refused.grpcStatus, 8);
  t.equal(line(renderMetrics(metrics, "text"), "triple_health_watch_streams_refused_total"), 1);
  await open;
});

t.test("the connection cap's refusals", async (t) => {
  const metrics = new MetricRegistry();
  const { server, port } = await startProbeServer(t, { connections: { maxConnections: 1 } });
  instrumentHost(metrics, server);
  // Busy: a Watch stream open on it, so the cap cannot shed it.
  const session = await connect(port);
  t.teardown(() => session.destroy());
  const watch = session.request(grpcHeaders("/grpc.health.v1.Health/Watch"));
  watch.on("error", () => {});
  watch.end(envelope(checkRequestBytes("")));
  await until(() => server.health.watcherCount === 1);
  await until(() => server.connections === 1);
  const second = net.connect(port, "127.0.0.1");
  await new Promise((resolve) => second.on("close", resolve).on("error", () => {}));
  t.equal(line(renderMetrics(metrics, "text"), "triple_health_connections_refused_total"), 1);
  t.equal(line(renderMetrics(metrics, "text"), "triple_health_connections"), 1);
});

t.test("status changes by service, source and status; churned services count as other", async (t) => {
  const metrics = new MetricRegistry();
  const registry = new HealthRegistry();
  const stop = instrumentHealth(metrics, registry);
  registry.set("a", ServingStatus.Serving);
  registry.markFailing("a", "db", "db: down");
  registry.drain("maintenance");
  let text = renderMetrics(metrics, "text");
  t.equal(line(text, 'triple_health_status_changes_total{service="a",source="set",status="SERVING"}'), 1);
  t.equal(line(text, 'triple_health_status_changes_total{service="a",source="db",status="NOT_SERVING"}'), 1);
  t.equal(line(text, "triple_health_draining"), 1);
  t.equal(line(text, 'triple_health_service_status{service="a",status="NOT_SERVING"}'), 1);
  t.equal(line(text, 'triple_health_service_status{service="a",status="SERVING"}'), 0);
  registry.resume("back");
  for (let i = 0; i < maxChangeSeries + 10; i++) {
    registry.set(`tmp${i}`, ServingStatus.Serving);
    registry.clear(`tmp${i}`);
  }
  text = renderMetrics(metrics, "text");
  const series = text.split("\n").filter((l) => l.startsWith("triple_health_status_changes_total{"));
  t.ok(series.length <= maxChangeSeries + 2, `bounded: ${series.length} series`);
  t.ok(
    (line(text, 'triple_health_status_changes_total{service="other",source="clear",status="CLEARED"}') ?? 0) >
      0,
  );
  stop();
  t.notMatch(renderMetrics(metrics, "text"), /triple_health_service_status/, "stopped: no collector");
});

t.test("check attempts, failures and durations; passing and failures in a row", async (t) => {
  const metrics = new MetricRegistry();
  const registry = new HealthRegistry();
  const clock = new FakeClock();
  const runner = new HealthCheckRunner(registry, { clock, random: () => 0 });
  instrumentHealth(metrics, registry, runner);
  const outcomes: (() => unknown)[] = [
    () => true,
    () => false,
    () => {
      throw new Error("sync");
    },
    () => Promise.reject(new Error("async")),
    () => new Promise(() => {}), // hangs: the timeout fails it
  ];
  let attempt = 0;
  runner.add(
    instrumentCheck(metrics, {
      name: "db",
      services: ["db"],
      intervalMs: 100,
      timeoutMs: 50,
      jitter: 0,
      failureThreshold: 2,
      run: () => outcomes[Math.min(attempt++, outcomes.length - 1)]!(),
    }),
  );
  for (let i = 0; i < 5; i++) await clock.advance(100);
  await clock.advance(50);
  const text = renderMetrics(metrics, "text");
  t.equal(line(text, 'triple_health_check_attempts_total{check="db"}'), 5);
  t.equal(line(text, 'triple_health_check_failures_total{check="db"}'), 4, "false, throw, reject, timeout");
  t.equal(line(text, 'triple_health_check_duration_seconds_count{check="db"}'), 5);
  t.equal(line(text, 'triple_health_check_passing{check="db"}'), 0);
  t.equal(
    line(text, 'triple_health_check_consecutive_failures{check="db"}'),
    runner.states()[0]!.consecutiveFailures,
  );
  await runner.close();
});

t.test("a check stopped mid-attempt: an attempt, no failure", async (t) => {
  const metrics = new MetricRegistry();
  const registry = new HealthRegistry();
  const clock = new FakeClock();
  const runner = new HealthCheckRunner(registry, { clock, random: () => 0 });
  runner.add(
    instrumentCheck(metrics, {
      name: "x",
      services: ["x"],
      jitter: 0,
      timeoutMs: 60_000,
      run: () => new Promise(() => {}),
    }),
  );
  await clock.advance(1);
  await runner.close();
  const text = renderMetrics(metrics, "text");
  t.equal(line(text, 'triple_health_check_attempts_total{check="x"}'), 1);
  t.equal(line(text, 'triple_health_check_failures_total{check="x"}'), 0);
  t.equal(line(text, 'triple_health_check_duration_seconds_count{check="x"}'), 0, "no duration either");
});

t.test("/metrics on the admin surface: its guards, its formats", async (t) => {
  const metrics = new MetricRegistry();
  metrics.gauge("x_up", "Up.").labels().set(1);
  const registry = new HealthRegistry();
  const request = (over: Partial<Parameters<ReturnType<typeof createAdminHandler>>[0]> = {}) => ({
    method: "GET",
    path: "/metrics",
    query: new URLSearchParams(),
    headers: { host: "127.0.0.1:1" },
    remoteAddress: "127.0.0.1",
    body: new Uint8Array(0),
    ...over,
  });
  const without = createAdminHandler(registry, {});
  t.equal(await without(request()), undefined, "no metrics option: /metrics is not the admin surface's");
  const open = createAdminHandler(registry, { metrics });
  const answer = await open(request());
  t.equal(answer?.status, 200);
  t.match(String(answer?.body), /^x_up 1$/m);
  const om = await open(request({ headers: { host: "localhost", accept: "application/openmetrics-text" } }));
  t.match(om?.headers?.["content-type"], /openmetrics/);
  t.match(String(om?.body), /# EOF\n$/);
  t.equal((await open(request({ method: "POST" })))?.status, 405);
  const head = await open(request({ method: "HEAD" }));
  t.equal(head?.status, 200);
  t.equal(head?.body, "");
  t.equal((await open(request({ remoteAddress: "10.0.0.1" })))?.status, 403, "loopback only");
  t.equal((await open(request({ headers: { host: "evil.example" } })))?.status, 403, "Host checked");
  const guarded = createAdminHandler(registry, { metrics, token: "s3cret" });
  t.equal((await guarded(request()))?.status, 401, "the token is required");
  const ok = await guarded(request({ headers: { host: "127.0.0.1", authorization: "Bearer s3cret" } }));
  t.equal(ok?.status, 200);
  const plain = createMetricsHandler(metrics);
  t.equal(await plain(request({ path: "/other" })), undefined);
  t.equal((await plain(request()))?.status, 200);
});

t.test("the metrics listener: /metrics only, bounded, closed", async (t) => {
  const metrics = new MetricRegistry();
  metrics.gauge("x_up", "Up.").labels().set(1);
  const listener = new MetricsListener(metrics);
  t.equal(listener.address, undefined);
  const { port } = await listener.listen(0, "127.0.0.1");
  t.same(listener.address, { host: "127.0.0.1", port });
  const base = `http://127.0.0.1:${port}`;
  const scraped = await fetch(`${base}/metrics?x=1`);
  t.equal(scraped.status, 200);
  t.match(await scraped.text(), /^x_up 1$/m);
  t.equal((await fetch(`${base}/`)).status, 404);
  t.equal((await fetch(`${base}/metrics`, { method: "POST", body: "x" })).status, 405);
  const second = new MetricsListener(metrics);
  await t.rejects(second.listen(port, "127.0.0.1"), { code: "EADDRINUSE" });
  await second.close();
  await listener.close();
  await t.rejects(fetch(`${base}/metrics`), "closed");
});

t.test("-metrics: the address read, a bad one exit 1, a busy port exit 2", async (t) => {
  t.same(parseMetricsAddress(":9464"), { host: "127.0.0.1", port: 9464 });
  t.same(parseMetricsAddress("0.0.0.0:0"), { host: "0.0.0.0", port: 0 });
  t.same(parseMetricsAddress("[::1]:9464"), { host: "::1", port: 9464 });
  for (const bad of ["9464", "host:", "h:99999", "a b:1"])
    t.throws(() => parseMetricsAddress(bad), /invalid -metrics .*want HOST:PORT/, bad);
  const badFlag = captureIo();
  t.equal(await runServe(["--port=0", "--metrics=nope"], badFlag.io), 1);
  t.match(badFlag.err, /invalid -metrics "nope"/);
  const busy = await listenLocal(net.createServer(), t);
  const serveBusy = captureIo();
  t.equal(await runServe(["--port=0", `--metrics=127.0.0.1:${busy.port}`], serveBusy.io), 2);
  t.match(serveBusy.err, /cannot listen on 127\.0\.0\.1:\d+ \(-metrics\)/);
  const proxyBusy = captureIo();
  t.equal(
    await runProxy(
      ["--listen=127.0.0.1:0", "--upstream=http://127.0.0.1:1", `--metrics=:${busy.port}`],
      proxyBusy.io,
    ),
    2,
  );
  t.match(proxyBusy.err, /\(-metrics\)/);
});
