import t, { type Test } from "tap";
import { run as drain } from "../../src/cli/commands/drain.ts";
import { run as resume } from "../../src/cli/commands/resume.ts";
import { run as set } from "../../src/cli/commands/set.ts";
import { run as status } from "../../src/cli/commands/status.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { createAdminHandler } from "../../src/health/admin-handler.ts";
import { HealthRegistry } from "../../src/health/registry.ts";
import { servePlainHttp } from "../fixtures/plain-http-server.ts";
import { captureIo, spawnCli } from "../fixtures/run-cli.ts";
import { startServer, unusedPort } from "../fixtures/start-server.ts";

const { Serving, NotServing } = ServingStatus;

async function setup(t: Test, token?: string) {
  const registry = new HealthRegistry({ now: () => Date.UTC(2026, 10, 24, 12, 0, 0) });
  registry.set("greet.GreetService", Serving);
  const server = await servePlainHttp([createAdminHandler(registry, token === undefined ? {} : { token })]);
  t.teardown(() => server.close());
  return { registry, addr: `127.0.0.1:${server.port}` };
}

t.test("status prints each service with its reason", async (t) => {
  const { registry, addr } = await setup(t);
  registry.markFailing("greet.GreetService", "db", "db: refused");
  registry.override("", Serving, "pinned");
  const io = captureIo();
  t.equal(await status(["--addr", addr], io.io), 0);
  t.equal(
    io.out,
    [
      "draining: false",
      '"": SERVING since 2026-11-24T12:00:00.000Z (registered) [override SERVING]',
      '"greet.GreetService": NOT_SERVING since 2026-11-24T12:00:00.000Z (db: refused) [failing db]',
      "",
    ].join("\n"),
  );
  const json = captureIo();
  t.equal(await status([`-addr=http://${addr}`, "-json"], json.io), 0);
  t.match(JSON.parse(json.out), {
    draining: false,
    shutdown: false,
    services: [{ service: "" }, { service: "greet.GreetService" }],
  });
  registry.shutdown();
  const down = captureIo();
  t.equal(await status([addr], down.io), 0, "the address may be positional");
  t.match(down.out, /^draining: true \(shutting down\)\n/);
});

t.test("drain, resume and set change the server's registry", async (t) => {
  const { registry, addr } = await setup(t);
  let io = captureIo();
  t.equal(await drain(["--addr", addr, "--reason", "node upgrade"], io.io), 0);
  t.equal(io.out, "drained: every service NOT_SERVING until resumed\n");
  t.equal(registry.get("greet.GreetService"), NotServing);
  t.equal(registry.snapshot()[1]?.reason, "node upgrade");
  io = captureIo();
  t.equal(await resume(["--addr", addr, "--json"], io.io), 0);
  t.same(JSON.parse(io.out), { draining: false });
  t.equal(registry.get("greet.GreetService"), Serving);
  io = captureIo();
  t.equal(
    await set(["--addr", addr, "--service", "greet.GreetService", "--status", "NOT_SERVING"], io.io),
    0,
  );
  t.equal(io.out, '"greet.GreetService": override NOT_SERVING, now NOT_SERVING\n');
  t.equal(registry.get("greet.GreetService"), NotServing);
  io = captureIo();
  t.equal(
    await set(
      ["--addr", addr, "--service", "greet.GreetService", "--status", "CLEAR", "--reason", "fixed"],
      io.io,
    ),
    0,
  );
  t.equal(io.out, '"greet.GreetService": override cleared, now SERVING\n');
  t.equal(registry.snapshot()[1]?.reason, "fixed");
  io = captureIo();
  t.equal(await resume(["--addr", addr], io.io), 0);
  t.equal(io.out, "resumed\n");
  io = captureIo();
  t.equal(await drain(["--addr", addr, "--json"], io.io), 0);
  t.same(JSON.parse(io.out), { draining: true });
});

t.test("tokens: flag, environment, wrong", async (t) => {
  const { registry, addr } = await setup(t, "s3cret");
  let io = captureIo();
  t.equal(await drain(["--addr", addr], io.io), 3, "no token: refused");
  t.equal(io.err, `error: ${addr} answered 401: a valid bearer token is required\n`);
  t.notOk(registry.draining);
  io = captureIo();
  t.equal(await drain(["--addr", addr, "--token", "wrong"], io.io), 3);
  io = captureIo({ TRIPLE_HEALTH_ADMIN_TOKEN: "s3cret" });
  t.equal(await drain(["--addr", addr], io.io), 0);
  t.ok(registry.draining);
  io = captureIo({ TRIPLE_HEALTH_ADMIN_TOKEN: "" });
  t.equal(await resume(["--addr", addr, "--token", "s3cret"], io.io), 0);
  t.notOk(registry.draining);
  t.notMatch(io.out + io.err, /s3cret/, "the token is never printed");
});

t.test("usage errors exit 1, connection failures 2, refusals 3", async (t) => {
  const { registry, addr } = await setup(t);
  let io = captureIo();
  t.equal(await status([], io.io), 1);
  t.equal(io.err, "error: -addr not specified\n");
  io = captureIo();
  t.equal(await status(["--bogus"], io.io), 1);
  t.match(io.err, /flag provided but not defined: -bogus/);
  io = captureIo();
  t.equal(await status(["--addr", "http://[bad"], io.io), 1);
  t.match(io.err, /invalid -addr/);
  io = captureIo();
  t.equal(await set(["--addr", addr, "--status", "SERVING"], io.io), 1);
  t.equal(io.err, "error: -service not specified\n");
  io = captureIo();
  t.equal(await set(["--addr", addr, "--service", "x"], io.io), 1);
  t.equal(io.err, "error: -status not specified\n");
  io = captureIo();
  t.equal(await set(["--addr", addr, "--service", "x", "--status", "FINE"], io.io), 1);
  t.match(io.err, /want one of SERVING, NOT_SERVING, UNKNOWN, CLEAR/);

  registry.shutdown();
  io = captureIo();
  t.equal(await resume(["--addr", addr], io.io), 3);
  t.equal(io.err, `error: ${addr} answered 409: the server is shutting down\n`);
  io = captureIo();
  t.equal(await status(["--addr", addr, "--prefix", "/elsewhere"], io.io), 3, "a 404 without a JSON body");
  t.equal(
    io.err,
    `error: ${addr} answered 404: HTTP 404 (no admin surface there: start the server with --admin, or check -prefix)\n`,
  );

  const port = await unusedPort();
  io = captureIo();
  t.equal(await status(["--addr", `127.0.0.1:${port}`, "--timeout", "2s"], io.io), 2);
  t.match(io.err, /failed to reach the admin endpoint at "127\.0\.0\.1:\d+": ECONNREFUSED/);
});

t.test("a server that answers 200 with something else than JSON", async (t) => {
  const server = await servePlainHttp([() => ({ status: 200, body: "<html>" })]);
  t.teardown(() => server.close());
  const io = captureIo();
  t.equal(await status(["--addr", `127.0.0.1:${server.port}`], io.io), 3);
  t.match(io.err, /the answer is not JSON/);
});

t.test("help", async (t) => {
  for (const [command, name] of [
    [status, "status"],
    [drain, "drain"],
    [resume, "resume"],
    [set, "set"],
  ] as const) {
    const io = captureIo();
    t.equal(await command(["--help"], io.io), 0);
    t.match(io.out, new RegExp(`^usage: triple-health ${name} -addr host:port`));
    t.match(io.out, /-token token/);
  }
});

t.test("through the triple-health binary", async (t) => {
  const { registry, addr } = await setup(t);
  const { code, stdout } = await spawnCli(["drain", "--addr", addr]);
  t.equal(code, 0);
  t.equal(stdout, "drained: every service NOT_SERVING until resumed\n");
  t.ok(registry.draining);
});

t.test("against the real TripleServer, on its RPC port", async (t) => {
  const health = new HealthRegistry();
  const { addr } = await startServer(t, {
    health,
    plainHttpHandlers: [createAdminHandler(health, { token: "tok" })],
  });
  let io = captureIo({ TRIPLE_HEALTH_ADMIN_TOKEN: "tok" });
  t.equal(await drain(["--addr", addr], io.io), 0);
  t.equal(health.get(""), NotServing);
  io = captureIo({ TRIPLE_HEALTH_ADMIN_TOKEN: "tok" });
  t.equal(await status(["--addr", addr], io.io), 0);
  t.match(io.out, /^draining: true\n"": NOT_SERVING since \S+ \(drained by operator\)\n/);
  io = captureIo({ TRIPLE_HEALTH_ADMIN_TOKEN: "tok" });
  t.equal(await resume(["--addr", addr], io.io), 0);
  t.equal(health.get(""), Serving);
  io = captureIo();
  t.equal(await status(["--addr", addr], io.io), 3, "no token");
});
