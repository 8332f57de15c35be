// `triple-health proxy` as users run it: a real process in front of a real upstream.
import t from "tap";
import { describeEvent, parseListen, run } from "../../src/cli/commands/proxy.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { RpcError } from "../../src/wire/rpc-error.ts";
import { stderrLine } from "../fixtures/node-process.ts";
import { captureIo, startCli } from "../fixtures/run-cli.ts";
import { startServer } from "../fixtures/start-server.ts";
import { from, grpcClient, grpcGreet, startUpstream } from "./fixtures/proxy-harness.ts";

t.test("proxy process: forwards, reports routing, exits 0 on SIGTERM", async (t) => {
  const a = await startUpstream(t, "a");
  const b = await startUpstream(t, "b");
  const child = startCli(t, [
    "proxy",
    "--listen",
    "127.0.0.1:0",
    "--upstream",
    `${a.url},${b.url}`,
    "--service",
    "greet.GreetService",
    "-v",
  ]);
  const first = (await stderrLine(child, /^triple-health proxy on .*$/m))[0];
  t.match(
    first,
    /^triple-health proxy on http:\/\/127\.0\.0\.1:\d+ \(h2c, HTTP\/1\.1\) → .* for greet\.GreetService$/,
  );
  const port = /:(\d+) /.exec(first)![1]!;
  const client = grpcClient(t, `127.0.0.1:${port}`);
  const seen = new Set<string>();
  // The first calls may come before the health streams answered: wait for both upstreams.
  const deadline = Date.now() + 20_000;
  while (seen.size < 2 && Date.now() < deadline) {
    try {
      seen.add(from((await grpcGreet(client, "cli")).greeting));
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  t.same([...seen].sort(), ["a", "b"]);
  t.equal(await child.stop("SIGTERM"), 0);
  t.match(child.stderr, /routing to http:\/\/127\.0\.0\.1:\d+/);
  t.match(child.stderr, /health stream up/);
});

t.test("usage errors and help", async (t) => {
  for (const args of [
    [],
    ["--upstream", ","],
    ["--upstream", "a:1", "--listen", "nohost"],
    ["--upstream", "a:1", "--listen", "h:99999"],
    ["--upstream", "a:1", "--panic-threshold", "2"],
    ["--upstream", "a:1", "--policy", "random"],
    ["--upstream", "a:1", "extra"],
    ["--upstream", "ftp://x"],
  ]) {
    const usage = captureIo();
    t.equal(await run(args, usage.io), 1, args.join(" "));
    t.match(usage.err, /^triple-health proxy: /);
  }
  const help = captureIo();
  t.equal(await run(["-h"], help.io), 0);
  t.match(help.out, /usage: triple-health proxy/);
  t.match(
    help.out,
    /-retry-on-reset\n\s+resend a call cut before any answer[^-]*idempotent methods only/,
    "the opt-in retry of calls cut before an answer, and when",
  );
});

t.test("a busy port: exit 2, as serve (cannot listen is a network failure)", async (t) => {
  const { port } = await startServer(t);
  const busyIo = captureIo();
  t.equal(
    await run(
      [
        "--upstream",
        "127.0.0.1:1",
        "--listen",
        `127.0.0.1:${port}`,
        "--eject-after",
        "3",
        "--eject-time",
        "1s",
      ],
      busyIo.io,
    ),
    2,
  );
  t.match(busyIo.err, /cannot listen/);
});

t.test("listen addresses and event lines", async (t) => {
  t.same(parseListen("0.0.0.0:80"), { host: "0.0.0.0", port: 80 });
  t.same(parseListen(":8080"), { host: "127.0.0.1", port: 8080 });
  t.same(parseListen("[::1]:9"), { host: "::1", port: 9 });
  const e = "http://h:1";
  const lines = [
    describeEvent({
      type: "status",
      endpoint: e,
      previous: undefined,
      status: ServingStatus.Serving,
      reason: "watch",
      time: 0,
    }),
    describeEvent({
      type: "status",
      endpoint: e,
      previous: ServingStatus.Serving,
      status: undefined,
      reason: "lost",
      time: 0,
    }),
    describeEvent({ type: "connected", endpoint: e, time: 0 }),
    describeEvent({ type: "disconnected", endpoint: e, error: undefined, time: 0 }),
    describeEvent({ type: "disconnected", endpoint: e, error: new RpcError(14, "reset"), time: 0 }),
    describeEvent({ type: "reconnect", endpoint: e, attempt: 2, delayMs: 160, time: 0 }),
    describeEvent({ type: "ejected", endpoint: e, durationMs: 10, ejections: 1, time: 0 }),
    describeEvent({ type: "restored", endpoint: e, reason: "time", time: 0 }),
    describeEvent({ type: "panic", active: true, healthy: 0, total: 3, time: 0 }),
    describeEvent({ type: "panic", active: false, healthy: 2, total: 3, time: 0 }),
    describeEvent({ type: "routable", endpoints: [], panic: false, time: 0 }),
    describeEvent({ type: "routable", endpoints: [e], panic: true, time: 0 }),
  ];
  t.same(lines, [
    "http://h:1 SERVING (watch)",
    "http://h:1 UNKNOWN (lost)",
    "http://h:1 health stream up",
    "http://h:1 health stream lost",
    "http://h:1 health stream lost: [UNAVAILABLE] reset",
    "http://h:1 reconnect #2 in 160 ms",
    "http://h:1 ejected for 10 ms (ejection 1)",
    "http://h:1 back from ejection (time)",
    "panic: 0 of 3 healthy, routing to every reachable upstream",
    "panic over: 2 of 3 healthy",
    "routing to nothing",
    "routing to http://h:1 (panic)",
  ]);
});
