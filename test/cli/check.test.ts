// `triple-health check` as a child process against real servers: grpc_health_probe's exit codes.
import t from "tap";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { createTripleServer } from "../../src/server/triple-server.ts";
import { startConnectPeer, startGrpcJsPeer } from "../client/fixtures/peers.ts";
import { startRawH2 } from "../client/fixtures/raw-server.ts";
import { runCli, spawnCli } from "./fixtures/run-cli.ts";

t.test("exit codes, as a child process", async (t) => {
  const grpcJs = await startGrpcJsPeer({ "greet.GreetService": "SERVING", "down.Service": "NOT_SERVING" });
  const ours = createTripleServer();
  await ours.listen(0, "127.0.0.1");
  ours.health.set("greet.GreetService", ServingStatus.Serving);
  ours.health.set("down.Service", ServingStatus.NotServing);
  const silent = await startRawH2();
  silent.handle("/grpc.health.v1.Health/Check", () => {});
  t.teardown(async () => {
    await grpcJs.close();
    await ours.close({ graceMs: 50 });
    await silent.close();
  });
  const oursAddr = `127.0.0.1:${ours.port}`;

  const serving = await spawnCli(["check", "-addr", grpcJs.addr, "-service", "greet.GreetService"]);
  t.equal(serving.code, 0, "SERVING: 0");
  t.equal(serving.stdout, "status: SERVING\n");

  const notServing = await spawnCli(["check", "--addr", oursAddr, "--service=down.Service", "--protocol", "triple"]);
  t.equal(notServing.code, 4, "NOT_SERVING: 4");
  t.match(notServing.stderr, 'service unhealthy (responded with "NOT_SERVING")');

  const unknown = await spawnCli(["check", `-addr=${oursAddr}`, "-service", "no.Such"]);
  t.equal(unknown.code, 3, "unknown service: 3");
  t.match(unknown.stderr, /error: health rpc failed: \[NOT_FOUND\]/);

  const refusedPort = await (async () => {
    const p = await startConnectPeer();
    const addr = p.addr;
    await p.close();
    return addr;
  })();
  const refused = await spawnCli(["check", "-addr", refusedPort]);
  t.equal(refused.code, 2, "refused connection: 2");
  t.match(refused.stderr, `error: failed to connect service at "${refusedPort}"`);

  const timeout = await spawnCli(["check", "-addr", silent.url.replace("http://", ""), "-rpc-timeout", "200ms"]);
  t.equal(timeout.code, 3, "rpc timeout: 3");
  t.match(timeout.stderr, "timeout: health rpc did not complete within 200ms");

  const badFlag = await spawnCli(["check", "-addr", oursAddr, "-no-such-flag"]);
  t.equal(badFlag.code, 1, "bad flag: 1");
  t.match(badFlag.stderr, "flag provided but not defined: -no-such-flag");
});

t.test("check in process: output forms and argument errors", async (t) => {
  const peer = await startConnectPeer({ initial: { a: "SERVING", b: "NOT_SERVING" } });
  const h1 = await startConnectPeer({ http1: true, initial: { a: "SERVING" } });
  t.teardown(async () => {
    await peer.close();
    await h1.close();
  });

  const json = await runCli(["check", "-addr", peer.addr, "-service", "a", "--json"]);
  t.equal(json.code, 0);
  t.same(JSON.parse(json.stdout), { addr: peer.addr, service: "a", status: "SERVING" });

  const jsonDown = await runCli(["check", "-addr", peer.addr, "-service", "b", "--json", "--protocol", "triple", "--codec", "json"]);
  t.equal(jsonDown.code, 4);
  t.same(JSON.parse(jsonDown.stdout), { addr: peer.addr, service: "b", status: "NOT_SERVING" });

  const jsonError = await runCli(["check", "-addr", peer.addr, "-service", "zz", "--json"]);
  t.equal(jsonError.code, 3);
  t.same(JSON.parse(jsonError.stdout).error, { code: "NOT_FOUND", message: "unknown service" });

  const verbose = await runCli(["check", "-addr", peer.addr, "-service", "a", "-v", "-rpc-header", "x-token: abc"]);
  t.equal(verbose.code, 0);
  t.match(verbose.stderr, "> POST http://");
  t.match(verbose.stderr, "> x-token: abc");
  t.match(verbose.stderr, "> message (flags 0x00): {\"service\":\"a\"}");
  t.match(verbose.stderr, "< status 200");
  t.match(verbose.stderr, "< trailer grpc-status: 0");
  t.match(verbose.stderr, "connection established");

  const http1 = await runCli(["check", "-addr", `http://${h1.addr}`, "-service", "a", "--protocol", "triple", "--http1", "-v"]);
  t.equal(http1.code, 0, "triple over HTTP/1.1");
  t.match(http1.stderr, "> message (unary body)");

  const unimplemented = await runCli(["check", "-addr", peer.addr, "-user-agent", "probe"], "");
  t.equal(unimplemented.code, 0, "the whole server");

  const connectTimeout = await runCli(["check", "-addr", "https://127.0.0.1:1", "-connect-timeout", "1ms"]);
  t.equal(connectTimeout.code, 2);

  const argErrors: [string[], RegExp][] = [
    [["check"], /-addr not specified/],
    [["check", "-addr", "x:1", "-connect-timeout", "0"], /-connect-timeout must be greater than zero/],
    [["check", "-addr", "x:1", "-rpc-timeout", "0"], /-rpc-timeout must be greater than zero/],
    [["check", "-addr", "x:1", "-rpc-timeout", "5"], /want a duration/],
    [["check", "-addr", "x:1", "-tls-no-verify"], /-tls-no-verify without specifying -tls/],
    [["check", "-addr", "x:1", "-tls-ca-cert", "f"], /-tls-ca-cert without specifying -tls/],
    [["check", "-addr", "x:1", "-tls-client-cert", "f"], /-tls-client-cert without specifying -tls/],
    [["check", "-addr", "x:1", "-tls-server-name", "n"], /-tls-server-name without specifying -tls/],
    [["check", "-addr", "x:1", "-tls", "-tls-client-cert", "f"], /without specifying -tls-client-key/],
    [["check", "-addr", "x:1", "-tls", "-tls-client-key", "f"], /without specifying -tls-client-cert/],
    [["check", "-addr", "x:1", "-tls", "-tls-no-verify", "-tls-ca-cert", "f"], /cannot specify -tls-ca-cert/],
    [["check", "-addr", "x:1", "-tls", "-tls-no-verify", "-tls-server-name", "n"], /cannot specify -tls-server-name/],
    [["check", "-addr", "x:1", "-tls", "-tls-ca-cert", "/no/such/file"], /failed to initialize tls credentials/],
    [["check", "-addr", "x:1", "--http1"], /gRPC needs HTTP\/2/],
    [["check", "-addr", "x:1", "--protocol", "soap"], /want one of grpc, triple/],
    [["check", "-addr", "x:1", "-rpc-header", "novalue"], /want 'name: value'/],
    [["check", "-addr"], /flag needs an argument/],
    [["check", "-addr", "x:1", "-tls=maybe"], /invalid boolean/],
  ];
  for (const [args, message] of argErrors) {
    const result = await runCli(args);
    t.equal(result.code, 1, `${args.join(" ")}: exit 1`);
    t.match(result.stderr, message);
  }
  const help = await runCli(["check", "--help"]);
  t.equal(help.code, 0);
  t.match(help.stdout, "-tls-server-name");
});
