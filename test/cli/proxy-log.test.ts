// What the proxy logs about its upstreams (issue 26): each health change, each outage once with its cause,
// ejections, and no routing or panic line before every upstream answered or the startup timeout; text and
// JSON with serve's field names. Then a real proxy in front of a real upstream that goes away.
import net from "node:net";
import t from "tap";
import { ProxyLog } from "../../src/cli/proxy-log.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { RpcError } from "../../src/wire/rpc-error.ts";
import { stderrLine } from "../fixtures/node-process.ts";
import { startCli } from "../fixtures/run-cli.ts";
import { listenLocal } from "../fixtures/start-server.ts";

const a = "http://a:1";
const b = "http://b:1";

function log(
  options: {
    json?: boolean;
    verbose?: boolean;
    routing?: { endpoints: readonly string[]; panic: boolean };
  } = {},
) {
  const lines: string[] = [];
  const proxyLog = new ProxyLog({
    json: options.json ?? false,
    verbose: options.verbose ?? false,
    service: "svc",
    endpoints: [a, b],
    write: (line) => lines.push(line.replace(/^\S+Z /, "").replace(/\n$/, "")),
    routing: () => options.routing ?? { endpoints: [], panic: false },
    now: () => 0,
  });
  return { proxyLog, lines };
}

t.test("startup: no panic or routing until every upstream answered or failed", async (t) => {
  // The picker's routing when the last upstream failed: panic already over.
  const { proxyLog, lines } = log({ routing: { endpoints: [a], panic: false } });
  proxyLog.onEvent({ type: "panic", active: true, healthy: 0, total: 2, time: 0 });
  proxyLog.onEvent({ type: "routable", endpoints: [a, b], panic: true, time: 0 });
  t.same(lines, [], "nothing said before any answer");
  proxyLog.onEvent({ type: "connected", endpoint: a, time: 1 });
  proxyLog.onEvent({
    type: "status",
    endpoint: a,
    previous: undefined,
    status: ServingStatus.Serving,
    reason: "watch: SERVING",
    time: 1,
  });
  proxyLog.onEvent({ type: "panic", active: false, healthy: 1, total: 2, time: 1 });
  proxyLog.onEvent({ type: "routable", endpoints: [a], panic: false, time: 1 });
  t.notOk(proxyLog.started);
  const error = new RpcError(14, "connect ECONNREFUSED 127.0.0.1:1");
  proxyLog.onEvent({ type: "reconnect", endpoint: b, attempt: 1, delayMs: 100, error, time: 2 });
  t.ok(proxyLog.started);
  // Later attempts of the same outage: quiet without -v.
  proxyLog.onEvent({ type: "reconnect", endpoint: b, attempt: 2, delayMs: 200, error, time: 3 });
  t.same(lines, [
    "upstream http://a:1 SERVING (watch: SERVING)",
    "upstream http://b:1 unreachable: [UNAVAILABLE] connect ECONNREFUSED 127.0.0.1:1 (retrying in 100 ms)",
    "routing to http://a:1",
  ]);
  t.notMatch(lines.join(""), /panic/);
  proxyLog.startupOver();
  t.equal(lines.length, 3, "the timeout after the start says nothing");
});

t.test("after startup: changes, losses with their cause, ejections, panic", async (t) => {
  const { proxyLog, lines } = log();
  for (const endpoint of [a, b])
    proxyLog.onEvent({
      type: "status",
      endpoint,
      previous: undefined,
      status: ServingStatus.Serving,
      reason: "watch: SERVING",
      time: 0,
    });
  lines.length = 0;
  proxyLog.onEvent({ type: "disconnected", endpoint: a, error: new RpcError(14, "stream reset"), time: 1 });
  proxyLog.onEvent({
    type: "reconnect",
    endpoint: a,
    attempt: 1,
    delayMs: 100,
    error: new RpcError(14, "refused"),
    time: 1,
  });
  proxyLog.onEvent({
    type: "status",
    endpoint: a,
    previous: ServingStatus.Serving,
    status: undefined,
    reason: "health stream lost for 1000 ms",
    time: 2,
  });
  proxyLog.onEvent({ type: "panic", active: true, healthy: 0, total: 2, time: 2 });
  proxyLog.onEvent({ type: "routable", endpoints: [b], panic: true, time: 2 });
  proxyLog.onEvent({ type: "ejected", endpoint: b, durationMs: 10_000, ejections: 1, time: 3 });
  proxyLog.onEvent({ type: "restored", endpoint: b, reason: "ejection time over", time: 4 });
  proxyLog.onEvent({ type: "disconnected", endpoint: b, error: undefined, time: 5 });
  t.same(lines, [
    "upstream http://a:1 health stream lost: [UNAVAILABLE] stream reset",
    "upstream http://a:1 UNKNOWN (health stream lost for 1000 ms)",
    "panic: 0 of 2 healthy, routing to every reachable upstream",
    "routing to http://b:1 (panic)",
    "upstream http://b:1 ejected for 10000 ms (ejection 1)",
    "upstream http://b:1 back from ejection (ejection time over)",
    "upstream http://b:1 health stream lost",
  ]);
});

t.test(
  "-v: every reconnect with its cause, connections; the startup timeout names the silent ones",
  async (t) => {
    const { proxyLog, lines } = log({ verbose: true, routing: { endpoints: [], panic: true } });
    proxyLog.onEvent({ type: "routable", endpoints: [], panic: true, time: 0 });
    proxyLog.onEvent({ type: "connected", endpoint: a, time: 0 });
    proxyLog.onEvent({ type: "reconnect", endpoint: a, attempt: 1, delayMs: 50, time: 0 });
    proxyLog.onEvent({
      type: "reconnect",
      endpoint: a,
      attempt: 2,
      delayMs: 80,
      error: new RpcError(4, "slow"),
      time: 0,
    });
    proxyLog.startupOver();
    t.same(lines, [
      "upstream http://a:1 health stream up",
      "upstream http://a:1 unreachable: no answer (retrying in 50 ms)",
      "upstream http://a:1 reconnect #2 in 80 ms after: [DEADLINE_EXCEEDED] slow",
      "routing to nothing (panic) (startup timeout: no answer yet from http://b:1)",
    ]);
  },
);

t.test("-log json: serve's field names", async (t) => {
  const { proxyLog, lines } = log({ json: true });
  proxyLog.onEvent({
    type: "status",
    endpoint: a,
    previous: undefined,
    status: ServingStatus.NotServing,
    reason: "watch: NOT_SERVING",
    time: Date.UTC(2026, 0, 1),
  });
  proxyLog.onEvent({ type: "routable", endpoints: [], panic: false, time: 0 });
  proxyLog.onEvent({
    type: "reconnect",
    endpoint: b,
    attempt: 1,
    delayMs: 100,
    error: new RpcError(14, "refused"),
    time: 0,
  });
  proxyLog.onEvent({ type: "panic", active: true, healthy: 0, total: 2, time: 0 });
  proxyLog.onEvent({ type: "ejected", endpoint: a, durationMs: 5, ejections: 2, time: 0 });
  const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  t.same(parsed[0], {
    time: "2026-01-01T00:00:00.000Z",
    service: "svc",
    upstream: a,
    event: "status",
    status: "NOT_SERVING",
    previous: null,
    reason: "watch: NOT_SERVING",
    source: "upstream",
  });
  t.match(parsed[1], {
    upstream: b,
    event: "unreachable",
    reason: "[UNAVAILABLE] refused",
    attempt: 1,
    delayMs: 100,
  });
  t.match(parsed[2], { event: "routing", upstreams: [], panic: false, source: "proxy" });
  t.match(parsed[3], { event: "panic", active: true, healthy: 0, total: 2 });
  t.match(parsed[4], { upstream: a, event: "ejected", durationMs: 5, ejections: 2 });
});

t.test("no routing change since the start: the picker's routing now", async (t) => {
  const { proxyLog, lines } = log();
  proxyLog.onEvent({ type: "reconnect", endpoint: a, attempt: 1, delayMs: 1, time: 0 });
  proxyLog.onEvent({ type: "reconnect", endpoint: b, attempt: 1, delayMs: 1, time: 0 });
  t.equal(lines.at(-1), "routing to nothing");
});

t.test("a real proxy with its upstream down, then up, then down", async (t) => {
  // A port that refuses, then an upstream serve on it.
  const placeholder = await listenLocal(net.createServer());
  const port = placeholder.port;
  await placeholder.close();
  const proxy = startCli(t, [
    "proxy",
    "--listen=127.0.0.1:0",
    `--upstream=http://127.0.0.1:${port}`,
    "--log=json",
  ]);
  await stderrLine(proxy, /^triple-health proxy on /m);
  const unreachable = await proxy.line(/"event":"unreachable"/);
  const first = JSON.parse(unreachable.input) as Record<string, unknown>;
  t.match(first, { upstream: `http://127.0.0.1:${port}`, source: "upstream" });
  t.match(String(first["reason"]), /ECONNREFUSED|connect/i, "the cause");
  await proxy.line(/"event":"routing"/);
  const serve = startCli(t, ["serve", `--port=${port}`]);
  // serve's start (TypeScript loader) plus the proxy's reconnect backoff: slow on a loaded 2-core machine.
  await proxy.line(/"status":"SERVING"/, 120_000);
  t.equal(await serve.stop("SIGTERM"), 0);
  await proxy.line(/"status":"NOT_SERVING"/, 60_000);
  t.equal(await proxy.stop("SIGTERM"), 0);
  const events = proxy.stdout
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { event: string; reason: string });
  t.equal(events.filter((e) => e.event === "unreachable").length, 1, "the outage at start said once");
  t.notOk(
    events.findIndex((e) => /panic/.test(e.reason)) < events.findIndex((e) => e.event === "unreachable"),
    "no panic before the upstream failed once",
  );
  t.notMatch(proxy.stdout, /^triple-health/m, "banners are on stderr");
});

t.test("a real proxy polling an upstream down from the start: said once, with the cause", async (t) => {
  const placeholder = await listenLocal(net.createServer());
  const port = placeholder.port;
  await placeholder.close();
  const proxy = startCli(t, [
    "proxy",
    "--listen=127.0.0.1:0",
    `--upstream=http://127.0.0.1:${port}`,
    "--health-mode=poll",
    "--poll-interval=100ms",
    "--log=json",
  ]);
  await stderrLine(proxy, /^triple-health proxy on /m);
  const unreachable = await proxy.line(/"event":"unreachable"/);
  const first = JSON.parse(unreachable.input) as Record<string, unknown>;
  t.match(first, { upstream: `http://127.0.0.1:${port}`, source: "upstream", delayMs: 100 });
  t.match(String(first["reason"]), /ECONNREFUSED|connect/i, "the cause");
  // Routing is reported once the upstream failed, not at the startup timeout.
  const routing = await proxy.line(/"event":"routing"/);
  t.notMatch(routing.input, /startup timeout/);
  // Many more failed polls (one each 100 ms): still one line.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  t.equal(await proxy.stop("SIGTERM"), 0);
  const events = proxy.stdout
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { event: string });
  t.equal(events.filter((e) => e.event === "unreachable").length, 1, "the outage said once");
  t.equal(events.filter((e) => e.event === "reconnect").length, 0, "the retries only with -v");
});

t.test("the first answer that ends the startup panic: routing without (panic)", async (t) => {
  // The picker updates its state before emitting the answer: routing() says panic is over already.
  const { proxyLog, lines } = log({ routing: { endpoints: [a, b], panic: false } });
  proxyLog.onEvent({ type: "routable", endpoints: [a, b], panic: true, time: 0 });
  proxyLog.onEvent({
    type: "status",
    endpoint: a,
    previous: undefined,
    status: ServingStatus.Serving,
    reason: "watch: SERVING",
    time: 1,
  });
  proxyLog.onEvent({
    type: "status",
    endpoint: b,
    previous: undefined,
    status: ServingStatus.Serving,
    reason: "watch: SERVING",
    time: 1,
  });
  proxyLog.onEvent({ type: "panic", active: false, healthy: 2, total: 2, time: 1 });
  t.equal(lines.at(-1), "routing to http://a:1, http://b:1");
  t.notMatch(lines.join("\n"), /panic/);
});
