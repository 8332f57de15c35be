// `triple-health discover` against a real ensemble: what it lists, its exit codes (0 one SERVING, 4 none
// SERVING, 3 none registered, 2 registry unreachable, 1 bad flags), -json, -levels, and -watch.
import t from "tap";
import { run } from "../../src/cli/commands/discover.ts";
import { describeDiscoveryEvent } from "../../src/cli/discovery-flags.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { ZooKeeperClient } from "../../src/discovery/zookeeper/index.ts";
import {
  greet,
  startProvider,
  writeGoInterfaceNode,
  writeInstance,
  writeMapping,
  writeOurs,
} from "../fixtures/dubbo-fleet.ts";
import { captureIo, runCli, startCli } from "../fixtures/run-cli.ts";
import { unusedPort } from "../fixtures/start-server.ts";
import { needsZooKeeper, startEnsemble } from "../fixtures/zookeeper-ensemble.ts";

async function discover(args: string[]) {
  const captured = captureIo();
  const code = await run(args, captured.io);
  return { code, out: captured.out, err: captured.err };
}

t.test("bad flags exit 1, naming the flag", async (t) => {
  for (const [args, text] of [
    [["-service", greet], /-registry is required/],
    [["-registry", "zookeeper://127.0.0.1:1"], /-service is required/],
    [["-registry", "http://x", "-service", greet], /invalid value for -registry: .*unknown scheme/],
    [["-registry", "zookeeper://127.0.0.1:1", "-service", greet, "-levels", "some"], /-levels/],
    [["-registry", "zookeeper://127.0.0.1:1", "-service", greet, "extra"], /extra/],
  ] as const) {
    const result = await discover([...args]);
    t.equal(result.code, 1, args.join(" "));
    t.match(result.err, text);
  }
  const help = await runCli(["discover", "-h"]);
  t.equal(help.code, 0);
  t.match(help.stdout, /Exit codes: 0 at least one provider SERVING/);
});

t.test("registry unreachable: exit 2", async (t) => {
  const port = await unusedPort();
  const result = await discover([
    "-registry",
    `zookeeper://127.0.0.1:${port}`,
    "-service",
    greet,
    "-timeout",
    "1s",
  ]);
  t.equal(result.code, 2);
  t.match(result.err, /registry zookeeper:\/\/127\.0\.0\.1:\d+ unreachable within 1000 ms/);
});

t.test("exit codes and output on a real ensemble", needsZooKeeper(), async (t) => {
  const ensemble = await startEnsemble(t);
  const registry = `zookeeper://${ensemble.connectString}`;
  const writer = new ZooKeeperClient({ servers: ensemble.servers });
  writer.start();
  t.teardown(() => writer.close());
  await writer.waitConnected(10_000);
  const args = [
    "-registry",
    registry,
    "-service",
    greet,
    "-group",
    "g1",
    "-version",
    "1.0.0",
    "-timeout",
    "5s",
  ];

  const none = await discover(args);
  t.equal(none.code, 3, "nothing registered: 3");
  t.match(none.err, /0 providers of g1\/greet\.GreetService:1\.0\.0, 0 SERVING/);

  const ours = await startProvider(t, { app: "node-app", group: "g1", version: "1.0.0" });
  const go = await startProvider(t, { app: "go-app", group: "g1", version: "1.0.0" });
  await writeOurs(writer, ours);
  await writeMapping(writer, "go-app");
  await writeInstance(writer, { app: "go-app", port: go.port, revision: go.metadata.version, shape: "go" });
  const dead = await unusedPort();
  await writeGoInterfaceNode(writer, { port: dead, app: "go-app", group: "g1", version: "1.0.0" });

  const listed = await discover(args);
  t.equal(listed.code, 0, "one SERVING: 0");
  const lines = listed.out.trim().split("\n").sort();
  t.equal(lines.length, 3);
  t.match(
    listed.out,
    new RegExp(
      `tri://127\\.0\\.0\\.1:${ours.port}  (instance\\+interface|interface\\+instance)  SERVING  tri://`,
    ),
  );
  t.match(listed.out, new RegExp(`tri://127\\.0\\.0\\.1:${go.port}  instance  SERVING`));
  t.match(listed.out, new RegExp(`tri://127\\.0\\.0\\.1:${dead}  interface  UNREACHABLE`));
  t.match(listed.err, /3 providers of g1\/greet\.GreetService:1\.0\.0, 2 SERVING/);

  const json = await discover([...args, "-json"]);
  t.equal(json.code, 0);
  const reports = json.out
    .trim()
    .split("\n")
    .map(
      (line) => JSON.parse(line) as { endpoint: string; status: string; levels: string[]; urls: string[] },
    );
  t.same(
    reports.map((r) => r.status).sort(),
    ["SERVING", "SERVING", reports.find((r) => r.status.startsWith("UNREACHABLE"))!.status].sort(),
  );
  t.equal(json.err, "", "nothing but JSON lines");

  // One level alone, and Java's application-first.
  const iface = await discover([...args, "-levels", "interface"]);
  t.equal(iface.out.trim().split("\n").length, 2, "interface level: ours and the dead one");
  const first = await discover([...args, "-levels", "application-first"]);
  t.equal(
    first.out.trim().split("\n").length,
    2,
    "application-first: the instances only, since there are some",
  );
  t.notMatch(first.out, new RegExp(`:${dead} `));

  // None SERVING: 4.
  ours.server.health.set(`g1/${greet}:1.0.0`, ServingStatus.NotServing, "test");
  go.server.health.set(`g1/${greet}:1.0.0`, ServingStatus.NotServing, "test");
  const down = await discover(args);
  t.equal(down.code, 4, "registered, none SERVING: 4");
  t.match(down.out, /NOT_SERVING/);
  go.server.health.set(`g1/${greet}:1.0.0`, ServingStatus.Serving, "test");

  // -watch: the list, then changes with timestamps, until SIGINT.
  const watching = startCli(t, ["discover", ...args, "-watch"]);
  await watching.line(new RegExp(`:${go.port}  instance  SERVING`), 90_000);
  ours.server.health.set(`g1/${greet}:1.0.0`, ServingStatus.Serving, "test");
  await watching.line(
    new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z tri://127\\.0\\.0\\.1:${ours.port} SERVING \\(`),
    20_000,
  );
  // Health changes while watching: a provider going NOT_SERVING and back prints a line each way (after
  // whatever line its first status printed when the watch began).
  const goHealth = (status: string) =>
    new RegExp(`^\\d{4}-[\\d-]+T[\\d:.]+Z tri://127\\.0\\.0\\.1:${go.port} ${status} \\(.*\\)$`, "m");
  const printed = watching.stdout.length;
  go.server.health.set(`g1/${greet}:1.0.0`, ServingStatus.NotServing, "maintenance");
  await watching.line(goHealth("NOT_SERVING"), 20_000);
  go.server.health.set(`g1/${greet}:1.0.0`, ServingStatus.Serving, "back");
  const healthBy = Date.now() + 20_000;
  const downThenUp = () => {
    const rest = watching.stdout.slice(printed);
    const down = goHealth("NOT_SERVING").exec(rest);
    return down === null ? null : goHealth("SERVING").exec(rest.slice(down.index));
  };
  while (downThenUp() === null && Date.now() < healthBy)
    await new Promise((resolve) => setTimeout(resolve, 50));
  t.ok(downThenUp(), "NOT_SERVING, then SERVING again, each printed with its time");
  const joiner = await startProvider(t, { app: "go-app", group: "g1", version: "1.0.0" });
  await writeInstance(writer, {
    app: "go-app",
    port: joiner.port,
    revision: joiner.metadata.version,
    shape: "go",
  });
  // The proxy log's wording (src/cli/proxy-log.ts), with the level that lists the provider.
  await watching.line(
    new RegExp(`Z tri://127\\.0\\.0\\.1:${joiner.port} discovered \\(instance level\\)$`),
    20_000,
  );
  await writer.delete(`/services/go-app/127.0.0.1:${joiner.port}`);
  await watching.line(new RegExp(`Z tri://127\\.0\\.0\\.1:${joiner.port} gone from the registry$`), 20_000);
  t.equal(await watching.stop("SIGINT"), 0, "exits 0 when interrupted");

  // A provider registered by our own `serve -registry`: found at both levels, SERVING; gone after SIGTERM.
  const serve = startCli(t, [
    "serve",
    "-port",
    "0",
    "-sample",
    "-service-group",
    "g1",
    "-service-version",
    "1.0.0",
    "-registry",
    registry,
    "-application",
    "serve-app",
    "-drain-delay",
    "0s",
  ]);
  const banner = (await serve.line(/^triple-health serving/, 90_000)).input;
  const servePort = Number(/:(\d+) \(h2c/.exec(banner)![1]);
  let entry: { levels: string[]; status: string } | undefined;
  const deadline = Date.now() + 20_000;
  while (entry === undefined && Date.now() < deadline) {
    const result = await discover([...args, "-json"]);
    entry = result.out
      .trim()
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as { endpoint: string; levels: string[]; status: string })
      .find((r) => r.endpoint === `tri://127.0.0.1:${servePort}` && r.levels.length === 2);
  }
  t.same(entry?.levels.slice().sort(), ["instance", "interface"], "serve -registry: both levels");
  t.equal(entry?.status, "SERVING");
  t.equal(await serve.stop("SIGTERM"), 0);
  const after = await discover(args);
  t.notMatch(after.out, new RegExp(`:${servePort} `), "unregistered on SIGTERM");
});

t.test("event lines", async (t) => {
  const provider = { address: "h:1", endpoint: "tri://h:1", levels: ["interface" as const], urls: [] };
  t.equal(describeDiscoveryEvent({ type: "added", provider, time: 0 }), "added tri://h:1 (interface level)");
  t.equal(
    describeDiscoveryEvent({
      type: "skipped",
      level: "instance",
      entry: "/x",
      reason: "no revision",
      time: 0,
    }),
    "skipped instance entry /x: no revision",
  );
  t.match(describeDiscoveryEvent({ type: "outage", down: true, reason: "r", time: 0 }), /registry lost/);
  t.match(describeDiscoveryEvent({ type: "outage", down: false, reason: "r", time: 0 }), /registry back/);
  t.match(describeDiscoveryEvent({ type: "error", path: "/p", message: "m", time: 0 }), /read of \/p failed/);
  t.match(
    describeDiscoveryEvent({ type: "error", path: "", message: "m", time: 0 }),
    /read of a node failed/,
  );
});
