import t from "tap";
import { parseServeArgs, run } from "../../src/cli/commands/serve.ts";
import { grpcHeaders, h2request } from "../fixtures/h2-request.ts";
import { captureIo, startCli } from "../fixtures/run-cli.ts";
import { checkRequestBytes, envelope, h1request, until } from "./fixtures/helpers.ts";

t.test("flags", async (t) => {
  t.same(parseServeArgs([], {}), {
    sample: false,
    services: [],
    host: "127.0.0.1",
    port: 20000,
    admin: false,
    graceMs: 5000,
    checks: [],
    log: "text",
    drainDelayMs: 0,
  });
  t.equal(parseServeArgs([], { PORT: "1234" }).port, 1234);
  t.same(
    parseServeArgs(
      [
        "--sample",
        "--service",
        "a.B",
        "--service=c.D",
        "--host",
        "::1",
        "--port=0",
        "--admin",
        "--grace-ms",
        "10",
      ],
      {},
    ),
    {
      sample: true,
      services: ["a.B", "c.D"],
      host: "::1",
      port: 0,
      admin: true,
      graceMs: 10,
      checks: [],
      log: "text",
      drainDelayMs: 0,
    },
  );
  t.equal(parseServeArgs(["-port", "7", "-grace-ms=70000"], {}).graceMs, 70000, "Go-style single dash too");
  t.throws(() => parseServeArgs(["--port", "x"], {}), /invalid value "x" for -port/);
  t.throws(() => parseServeArgs(["--port", "70000"], {}), /-port must be a port number/);
  t.throws(() => parseServeArgs(["--port"], {}), /needs an argument/);
  t.throws(() => parseServeArgs(["--nope"], {}), /not defined: -nope/);
  t.throws(() => parseServeArgs(["stray"], {}), /unexpected argument "stray"/);
  t.throws(() => parseServeArgs([], { PORT: "abc" }), /PORT must be/);
  t.throws(() => parseServeArgs([], { PORT: "70000" }), /PORT must be/);
});

t.test("registry flags", async (t) => {
  const zk = "zookeeper://127.0.0.1:2181,127.0.0.1:2182";
  t.same(parseServeArgs(["-registry", zk, "-application", "app"], {}).registry, {
    url: zk,
    application: "app",
    mode: "all",
    host: undefined,
  });
  t.equal(
    parseServeArgs(["-registry", zk, "-application", "app"], {}).drainDelayMs,
    3000,
    "3s with a registry",
  );
  t.equal(parseServeArgs(["-registry", zk, "-application=a", "-drain-delay", "0"], {}).drainDelayMs, 0);
  t.equal(parseServeArgs(["-drain-delay", "250ms"], {}).drainDelayMs, 250, "without a registry too");
  t.same(
    parseServeArgs(["-registry", zk, "-register-mode", "interface", "-registry-host", "10.0.0.1:30000"], {})
      .registry,
    { url: zk, application: undefined, mode: "interface", host: "10.0.0.1:30000" },
  );
  const bad: Array<[string[], RegExp]> = [
    [["-registry", "nacos://h:1", "-application", "a"], /invalid -registry: .*unknown scheme nacos/],
    [["-registry", "zookeeper://h:99999", "-application", "a"], /invalid -registry: .*invalid port/],
    [["-registry", zk], /-registry with -register-mode all needs -application/],
    [["-registry", zk, "-register-mode", "instance"], /needs -application/],
    [
      ["-registry", zk, "-register-mode", "both", "-application", "a"],
      /invalid value "both" for -register-mode/,
    ],
    [["-registry", zk, "-application", "a b"], /invalid -application "a b"/],
    [["-registry", zk, "-application", "a", "-registry-host", "h:0"], /invalid -registry-host/],
    [["-application", "a"], /-application needs -registry/],
    [["-registry-host", "h"], /-registry-host needs -registry/],
    [["-drain-delay", "2h"], /-drain-delay must be at most 1h/],
    [["-drain-delay", "soon"], /invalid value "soon" for -drain-delay/],
  ];
  for (const [args, message] of bad) t.throws(() => parseServeArgs(args, {}), message, args.join(" "));
  // A flag error is exit 1 with the message, as for every command.
  const io = captureIo();
  t.equal(await run(["-registry", "zk://h:1", "-application", "a"], io.io), 1);
  t.match(io.err, /invalid -registry: .*unknown scheme zk:\/\//);
});

t.test("--help, bad flags, bad service name, port in use", async (t) => {
  const help = captureIo();
  t.equal(await run(["--help"], help.io), 0);
  t.match(help.out, /usage: triple-health serve/);
  const bad = captureIo();
  t.equal(await run(["--bogus"], bad.io), 1, "bad arguments exit 1, as every command");
  t.match(bad.err, /not defined: -bogus/);
  const badName = captureIo();
  t.equal(await run(["--port", "0", "--service", "not a name"], badName.io), 1);
  t.match(badName.err, /invalid service name/);
});

t.test("in process: serves, closes on SIGTERM", async (t) => {
  const out = captureIo();
  const running = run(
    ["--sample", "--service", "extra.Service", "--port", "0", "--admin", "--grace-ms", "100"],
    out.io,
  );
  await until(() => out.out.includes("serving"));
  const port = Number(/:(\d+) /.exec(out.out)?.[1]);
  const url = `http://127.0.0.1:${port}`;
  const check = await h1request(`${url}/grpc.health.v1.Health/Check`, {
    headers: { "content-type": "application/json" },
    body: '{"service":"extra.Service"}',
  });
  t.equal(check.body.toString(), '{"status":"SERVING"}');
  const live = await h1request(`${url}/livez`, { method: "GET" });
  t.equal(live.status, 200, "--admin mounts the probe handler");
  const busy = captureIo();
  t.equal(await run(["--port", String(port)], busy.io), 2, "a port in use is exit code 2");
  t.match(busy.err, /cannot listen/);
  process.emit("SIGTERM", "SIGTERM");
  t.equal(await running, 0);
  t.match(out.out, /SIGTERM, closing[\s\S]*closed/);
});

t.test("npm start's command: spawned, answers the seed's requests, exits 0 on SIGTERM", async (t) => {
  const child = startCli(t, ["serve", "--sample"], { env: { ...process.env, PORT: "0" } });
  await child.line(/serving/);
  const out = child.stdout;
  t.match(out, /serving grpc\.health\.v1\.Health, greet\.GreetService on http:\/\/127\.0\.0\.1:\d+/);
  const port = Number(/:(\d+) /.exec(out)?.[1]);
  const url = `http://127.0.0.1:${port}`;
  const greet = await h1request(`${url}/greet.GreetService/Greet`, {
    headers: { "content-type": "application/json" },
    body: '{"name":"world"}',
  });
  t.equal(greet.body.toString(), '{"greeting":"hello world"}');
  const grpc = await h2request(
    url,
    grpcHeaders("/grpc.health.v1.Health/Check", { "content-type": "application/grpc+proto" }),
    envelope(checkRequestBytes("greet.GreetService")),
  );
  t.equal(grpc.body.toString("hex"), "00000000020801");
  t.equal(await child.stop("SIGTERM"), 0);
  t.match(child.stdout, /closed/);
});

t.test("-service-group and -service-version export the sample and -service names under them", async (t) => {
  t.match(parseServeArgs(["-service-group", "g1", "-service-version=1.0.0"], {}), {
    serviceGroup: "g1",
    serviceVersion: "1.0.0",
  });
  const bad = captureIo();
  t.equal(await run(["--port", "0", "--sample", "--service-group", "a b"], bad.io), 1);
  t.match(bad.err, /invalid service group "a b"/);

  const child = startCli(t, [
    "serve",
    "--sample",
    "--service",
    "extra.Service",
    "-service-group",
    "g1",
    "-service-version",
    "1.0.0",
    "--port",
    "0",
  ]);
  await child.line(/serving/, 60_000);
  t.match(
    child.stdout,
    /serving grpc\.health\.v1\.Health, g1\/greet\.GreetService:1\.0\.0, g1\/extra\.Service:1\.0\.0 on /,
  );
  const url = `http://127.0.0.1:${Number(/:(\d+) /.exec(child.stdout)?.[1])}`;
  const check = async (service: string) =>
    (
      await h1request(`${url}/grpc.health.v1.Health/Check`, {
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ service }),
      })
    ).body.toString();
  for (const service of [
    "g1/greet.GreetService:1.0.0",
    "greet.GreetService",
    "g1/extra.Service:1.0.0",
    "extra.Service",
  ]) {
    t.equal(await check(service), '{"status":"SERVING"}', service);
  }
  const greet = (headers: Record<string, string>) =>
    h1request(`${url}/greet.GreetService/Greet`, {
      headers: { "content-type": "application/json", ...headers },
      body: '{"name":"g"}',
    });
  const picked = await greet({ "tri-service-group": "g1", "tri-service-version": "1.0.0" });
  t.equal(picked.body.toString(), '{"greeting":"hello g"}');
  const plain = await greet({});
  t.equal(plain.status, 404, "no plain export: a call without the headers is UNIMPLEMENTED");
  t.match(plain.json, { code: "unimplemented" });
  t.equal(await child.stop("SIGTERM"), 0);
});
