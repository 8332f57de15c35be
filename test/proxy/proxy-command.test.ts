// `triple-health proxy` as users run it: a real process in front of a real upstream.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { PassThrough } from "node:stream";
import t from "tap";
import { describeEvent, parseListen, run } from "../../src/cli/commands/proxy.ts";
import type { CommandIo } from "../../src/cli/main.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { createTripleServer } from "../../src/server/triple-server.ts";
import { RpcError } from "../../src/wire/rpc-error.ts";
import { from, grpcClient, grpcGreet, startUpstream } from "./fixtures/proxy-harness.ts";

function fakeIo(): { io: CommandIo; out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (c: Buffer) => (out += c.toString()));
  stderr.on("data", (c: Buffer) => (err += c.toString()));
  return { io: { stdout, stderr, stdin: new PassThrough(), env: {} }, out: () => out, err: () => err };
}

t.test("proxy process: forwards, reports routing, exits 0 on SIGTERM", async (t) => {
  const a = await startUpstream(t, "a");
  const b = await startUpstream(t, "b");
  const child = spawn(
    process.execPath,
    [
      ...process.execArgv,
      "src/cli/main.ts",
      "proxy",
      "--listen",
      "127.0.0.1:0",
      "--upstream",
      `${a.url},${b.url}`,
      "--service",
      "greet.GreetService",
      "-v",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  t.teardown(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  let stderr = "";
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  const lines = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((resolve) => lines.once("line", resolve));
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
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  t.equal(await exited, 0);
  t.match(stderr, /routing to http:\/\/127\.0\.0\.1:\d+/);
  t.match(stderr, /health stream up/);
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
    const { io, err } = fakeIo();
    t.equal(await run(args, io), 1, args.join(" "));
    t.match(err(), /^triple-health proxy: /);
  }
  const { io, out } = fakeIo();
  t.equal(await run(["-h"], io), 0);
  t.match(out(), /usage: triple-health proxy/);
});

t.test("a busy port: exit 1", async (t) => {
  const busy = createTripleServer();
  const { port } = await busy.listen(0);
  t.teardown(() => busy.close({ graceMs: 0 }));
  const { io, err } = fakeIo();
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
      io,
    ),
    1,
  );
  t.match(err(), /cannot listen/);
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
