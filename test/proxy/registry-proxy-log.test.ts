// `proxy -registry`'s log against a real ZooKeeper: each provider found or gone, and each registry outage,
// is logged once (one log path: the picker's events), with the Dubbo levels that list the provider.
import t from "tap";
import { stderrLine } from "../fixtures/node-process.ts";
import { startCli } from "../fixtures/run-cli.ts";
import { needsZooKeeper, startEnsemble } from "../fixtures/zookeeper-ensemble.ts";

const count = (text: string, pattern: RegExp) => text.split("\n").filter((l) => pattern.test(l)).length;

async function until(what: string, ready: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`never ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

t.test("proxy -registry logs each provider change and outage once", needsZooKeeper(), async (t) => {
  const ensemble = await startEnsemble(t, 1);
  const registry = `zookeeper://${ensemble.connectString}?session=4000`;
  const serve = startCli(t, [
    "serve",
    "-port=0",
    "-sample",
    "-registry",
    registry,
    "-application",
    "log-app",
    "-drain-delay=0s",
  ]);
  const [, port] = await serve.line(/serving .* on http:\/\/127\.0\.0\.1:(\d+) /, 60_000);
  const proxy = startCli(t, [
    "proxy",
    "--listen=127.0.0.1:0",
    "--registry",
    registry,
    "--service=greet.GreetService",
  ]);
  await stderrLine(proxy, /^triple-health proxy on /m, 60_000);
  const endpoint = `tri://127.0.0.1:${port}`;
  await until("the provider's status", () => proxy.stderr.includes(`upstream ${endpoint} SERVING`));

  // A short outage (shorter than the session): lost and back.
  await ensemble.stopAll();
  await until("registry lost", () => /registry lost/.test(proxy.stderr));
  ensemble.startAll();
  await ensemble.ready(60_000);
  await until("registry back", () => /registry back/.test(proxy.stderr));

  t.equal(await serve.stop("SIGTERM"), 0);
  await until("the provider gone", () =>
    proxy.stderr.includes(`upstream ${endpoint} gone from the registry`),
  );
  t.equal(await proxy.stop("SIGTERM"), 0);

  const log = proxy.stderr;
  const at = (what: string) =>
    new RegExp(`${endpoint.replace(/\./g, "\\.")}\\b.*${what}|${what}.*${endpoint}`);
  // The level(s) listing it when it was found (the other may come a read later).
  t.equal(
    count(
      log,
      new RegExp(`^\\S+Z upstream ${endpoint} discovered \\((interface|instance)(\\+\\w+)? level\\)$`),
    ),
    1,
    `found once, with its level:\n${log}`,
  );
  t.equal(count(log, at("discovered|added")), 1, "no second line for the same find");
  t.equal(count(log, at("gone from the registry|removed")), 1, "gone once");
  t.equal(count(log, /registry lost/), 1, "the outage once");
  t.equal(count(log, /registry back/), 1, "its end once");
});
