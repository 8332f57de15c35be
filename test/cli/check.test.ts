// `triple-health check` in process: output forms (--json, -v) and every argument error (exit 1).
import t from "tap";
import { startConnectPeer } from "../client/fixtures/peers.ts";
import { runCli } from "../fixtures/run-cli.ts";

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

  const jsonDown = await runCli([
    "check",
    "-addr",
    peer.addr,
    "-service",
    "b",
    "--json",
    "--protocol",
    "triple",
    "--codec",
    "json",
  ]);
  t.equal(jsonDown.code, 4);
  t.same(JSON.parse(jsonDown.stdout), { addr: peer.addr, service: "b", status: "NOT_SERVING" });

  const jsonError = await runCli(["check", "-addr", peer.addr, "-service", "zz", "--json"]);
  t.equal(jsonError.code, 3);
  t.same(JSON.parse(jsonError.stdout).error, { code: "NOT_FOUND", message: "unknown service" });

  const verbose = await runCli([
    "check",
    "-addr",
    peer.addr,
    "-service",
    "a",
    "-v",
    "-rpc-header",
    "x-token: abc",
  ]);
  t.equal(verbose.code, 0);
  t.match(verbose.stderr, "> POST http://");
  t.match(verbose.stderr, "> x-token: abc");
  t.match(verbose.stderr, '> message (flags 0x00): {"service":"a"}');
  t.match(verbose.stderr, "< status 200");
  t.match(verbose.stderr, "< trailer grpc-status: 0");
  t.match(verbose.stderr, "connection established");

  const http1 = await runCli([
    "check",
    "-addr",
    `http://${h1.addr}`,
    "-service",
    "a",
    "--protocol",
    "triple",
    "--http1",
    "-v",
  ]);
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
    [
      ["check", "-addr", "x:1", "-tls", "-tls-no-verify", "-tls-server-name", "n"],
      /cannot specify -tls-server-name/,
    ],
    [
      ["check", "-addr", "x:1", "-tls", "-tls-ca-cert", "/no/such/file"],
      /failed to initialize tls credentials/,
    ],
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
