// Registry state in /metrics, against a real ZooKeeper ensemble: `serve -registry -metrics` reports its
// session, whether it is registered and its node count; `proxy -registry -metrics` its session and the
// providers it found by level. The ensemble is stopped past the session timeout and started again: both
// count the expiry and the reconnect. Each exposition passes `promtool check metrics`.
import { spawn } from "node:child_process";
import t from "tap";
import { stderrLine } from "../fixtures/node-process.ts";
import { startCli } from "../fixtures/run-cli.ts";
import { needs } from "../fixtures/tools.ts";
import { needsZooKeeper, startEnsemble } from "../fixtures/zookeeper-ensemble.ts";

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

/** The value of the sample `series` (name and labels exactly as exposed) in `text`, or undefined. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split("\n"))
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  return undefined;
}

/** Scrapes `url` until `accept` takes the text (or 60 s pass, on a loaded machine with ZooKeeper). */
async function scrapeUntil(url: string, what: string, accept: (text: string) => boolean): Promise<string> {
  const deadline = Date.now() + 60_000;
  let text = "";
  while (Date.now() < deadline) {
    text = await (await fetch(url)).text();
    if (accept(text)) return text;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url}: never ${what}; last:\n${text}`);
}

const options = { ...needsZooKeeper(), ...needs("promtool") };

t.test("serve -registry and proxy -registry: registry state as metrics", options, async (t) => {
  const ensemble = await startEnsemble(t, 1);
  const sessionMs = 2000;
  const registry = `zookeeper://${ensemble.connectString}?session=${sessionMs}`;
  const serve = startCli(t, [
    "serve",
    "-port=0",
    "-sample",
    "-registry",
    registry,
    "-application",
    "metrics-app",
    "-metrics=127.0.0.1:0",
    "-drain-delay=0s",
  ]);
  const [, serveMetrics] = await serve.line(/metrics on (\S+)/, 60_000);
  // registered turns 1 with the first node written; the other may still be on its way (seen on a loaded
  // machine: 1 node at the first scrape that said registered).
  const registered = await scrapeUntil(
    serveMetrics!,
    "registered with both nodes",
    (text) =>
      sample(text, "triple_health_registry_registered") === 1 &&
      sample(text, "triple_health_registry_nodes") === 2,
  );
  t.same(await promtoolCheck(registered), { code: 0, output: "" }, "promtool: serve's exposition");
  t.equal(sample(registered, 'triple_health_registry_session{state="connected"}'), 1);
  t.equal(sample(registered, 'triple_health_registry_session{state="expired"}'), 0);
  t.equal(
    sample(registered, "triple_health_registry_nodes"),
    2,
    "the interface node of greet and the instance node (the metadata service is not an interface node)",
  );
  t.equal(sample(registered, "triple_health_registry_reconnects_total"), 0);
  t.equal(sample(registered, "triple_health_registry_session_expirations_total"), 0);
  t.notMatch(registered, /zookeeper:|127\.0\.0\.1:\d+"/, "no registry address or path as a label value");

  const proxy = startCli(t, [
    "proxy",
    "--listen=127.0.0.1:0",
    "--registry",
    registry,
    "--service=greet.GreetService",
    "--metrics=:0",
  ]);
  const [, proxyMetrics] = await stderrLine(proxy, /metrics on (\S+)/, 60_000);
  const found = await scrapeUntil(
    proxyMetrics!,
    "found the provider",
    (text) => sample(text, 'triple_health_discovery_providers{level="both"}') === 1,
  );
  t.same(await promtoolCheck(found), { code: 0, output: "" }, "promtool: the proxy's exposition");
  t.equal(sample(found, 'triple_health_discovery_providers{level="interface"}'), 0);
  t.equal(sample(found, 'triple_health_discovery_providers{level="instance"}'), 0);
  t.equal(sample(found, 'triple_health_registry_session{state="connected"}'), 1);
  t.equal(sample(found, 'triple_health_discovery_changes_total{change="added"}'), 1);
  t.equal(sample(found, 'triple_health_discovery_changes_total{change="removed"}'), 0);
  t.equal(sample(found, "triple_health_registry_reconnects_total"), 0);

  // The ensemble away past the session timeout: both sessions expire; back: both connect again.
  await ensemble.stopAll();
  const expired = await scrapeUntil(
    serveMetrics!,
    "saw the expiry",
    (text) => sample(text, "triple_health_registry_session_expirations_total") === 1,
  );
  t.equal(sample(expired, "triple_health_registry_registered"), 0, "no node without a session");
  t.equal(sample(expired, 'triple_health_registry_session{state="connected"}'), 0);
  await scrapeUntil(
    proxyMetrics!,
    "saw the expiry",
    (text) => sample(text, "triple_health_registry_session_expirations_total") === 1,
  );
  ensemble.startAll();
  await ensemble.ready(60_000);
  const back = await scrapeUntil(
    serveMetrics!,
    "registered again",
    (text) =>
      sample(text, "triple_health_registry_registered") === 1 &&
      sample(text, "triple_health_registry_reconnects_total") === 1,
  );
  t.equal(sample(back, 'triple_health_registry_session{state="connected"}'), 1);
  t.same(await promtoolCheck(back), { code: 0, output: "" });
  const proxyBack = await scrapeUntil(
    proxyMetrics!,
    "reconnected",
    (text) =>
      sample(text, "triple_health_registry_reconnects_total") === 1 &&
      sample(text, 'triple_health_registry_session{state="connected"}') === 1,
  );
  t.equal(
    sample(proxyBack, 'triple_health_discovery_providers{level="both"}'),
    1,
    "the provider is still known",
  );

  // serve leaves: the proxy counts the removal. (Back from the outage, serve may have replaced its nodes that
  // the ensemble revived with its old session, delete then create: the proxy may have counted that too.)
  const removedBefore = sample(proxyBack, 'triple_health_discovery_changes_total{change="removed"}');
  t.equal(await serve.stop("SIGTERM"), 0);
  const gone = await scrapeUntil(
    proxyMetrics!,
    "saw the provider leave",
    (text) =>
      sample(text, 'triple_health_discovery_changes_total{change="removed"}') === (removedBefore ?? 0) + 1,
  );
  t.equal(sample(gone, 'triple_health_discovery_providers{level="both"}'), 0);
  t.equal(await proxy.stop("SIGTERM"), 0);
});
