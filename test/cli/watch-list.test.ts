import t from "tap";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { startConnectPeer, startGrpcJsPeer } from "../client/fixtures/peers.ts";
import { runCli, spawnCli } from "../fixtures/run-cli.ts";
import { startServer } from "../fixtures/start-server.ts";

t.test("watch prints each change until SIGINT, then exits 0", async (t) => {
  const { server } = await startServer(t, {}, { graceMs: 50 });
  server.health.set("greet.GreetService", ServingStatus.Serving);
  let flipped = false;
  let interrupted = false;
  const result = await spawnCli(
    ["watch", "-addr", `127.0.0.1:${server.port}`, "-service", "greet.GreetService"],
    {
      onStdout: (text, child) => {
        const lines = text.split("\n").filter(Boolean).length;
        if (lines === 1 && !flipped) {
          flipped = true;
          server.health.set("greet.GreetService", ServingStatus.NotServing);
        } else if (lines === 2 && !interrupted) {
          interrupted = true;
          child.kill("SIGINT");
        }
      },
    },
  );
  t.equal(result.code, 0, "SIGINT: exit 0");
  const lines = result.stdout.trim().split("\n");
  t.equal(lines.length, 2);
  t.match(lines[0], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "greet.GreetService" SERVING$/);
  t.match(lines[1], /"greet.GreetService" NOT_SERVING$/);
});

t.test("watch in process: --count, --json, triple, errors", async (t) => {
  const peer = await startConnectPeer({ initial: { a: "SERVING" } });
  const grpcJs = await startGrpcJsPeer({ a: "SERVING" });
  t.teardown(async () => {
    await peer.close();
    await grpcJs.close();
  });
  const counted = await runCli([
    "watch",
    "-addr",
    peer.addr,
    "-service",
    "a",
    "--count",
    "1",
    "--json",
    "--protocol",
    "triple",
  ]);
  t.equal(counted.code, 0);
  t.match(JSON.parse(counted.stdout), { service: "a", status: "SERVING" });
  const timedOut = await runCli(["watch", "-addr", grpcJs.addr, "-service", "a", "-rpc-timeout", "150ms"]);
  t.equal(timedOut.code, 3, "a deadline on the watch: rpc failure");
  t.match(timedOut.stderr, "timeout: watch rpc did not complete within 150ms");
  const refused = await runCli(["watch", "-addr", "127.0.0.1:1"]);
  t.equal(refused.code, 2);
  t.equal((await runCli(["watch"])).code, 1);
  t.equal((await runCli(["watch", "-addr", "x:1", "--count", "x"])).code, 1);
  t.equal((await runCli(["watch", "-h"])).code, 0);
  const verbose = await runCli([
    "watch",
    "-addr",
    peer.addr,
    "-service",
    "a",
    "--count",
    "1",
    "-v",
    "--protocol",
    "triple",
  ]);
  t.match(verbose.stderr, "content-type: application/connect+proto");
});

t.test("watch: the server closing ends the stream", async (t) => {
  const { server } = await startServer(t);
  server.health.set("a", ServingStatus.Serving);
  const running = runCli(["watch", "-addr", `127.0.0.1:${server.port}`, "-service", "a"]);
  await new Promise((resolve) => setTimeout(resolve, 300));
  await server.close({ graceMs: 200 });
  const result = await running;
  t.match(result.stdout, /"a" SERVING\n.*"a" NOT_SERVING\n$/s, "SERVING, then NOT_SERVING on close");
  t.ok(result.code === 0 || result.code === 3, `exit ${result.code}`);
  if (result.code === 0) t.match(result.stderr, "the server ended the stream");
});

t.test("list", async (t) => {
  const peer = await startGrpcJsPeer({ a: "SERVING", b: "NOT_SERVING" });
  t.teardown(() => peer.close());
  const text = await runCli(["list", "-addr", peer.addr]);
  t.equal(text.code, 0);
  t.equal(text.stdout, '"": SERVING\n"a": SERVING\n"b": NOT_SERVING\n');
  const json = await runCli(["list", "-addr", peer.addr, "--json"]);
  t.same(JSON.parse(json.stdout), {
    addr: peer.addr,
    statuses: { "": "SERVING", a: "SERVING", b: "NOT_SERVING" },
  });
  t.equal((await runCli(["list", "-addr", "127.0.0.1:1"])).code, 2);
  t.equal((await runCli(["list"])).code, 1);
  t.equal((await runCli(["list", "--help"])).code, 0);

  // a server without List (connect-node peer has it; a raw check: UNIMPLEMENTED on our side of the call)
  const { server } = await startServer(t, { healthService: { listEnabled: false } }, { graceMs: 50 });
  const off = await runCli(["list", "-addr", `127.0.0.1:${server.port}`]);
  t.equal(off.code, 3);
  t.match(off.stderr, /error: /);
});
