// Server keepalive and ping policy: a Watch client (the CLI, in its own process) whose path goes black has its
// Watch streams and per-address slots released; a client flooding PINGs gets GOAWAY(ENHANCE_YOUR_CALM).
import http2 from "node:http2";
import t from "tap";
import { createHealthClient } from "../../src/client/health-client.ts";
import { SessionPool } from "../../src/client/session-pool.ts";
import { HealthRegistry } from "../../src/health/registry.ts";
import { checkTransportTimeouts } from "../../src/server/options.ts";
import { keepalivePeriodMs } from "../../src/server/session-keepalive.ts";
import { startBlackHoleRelay } from "../fixtures/black-hole-relay.ts";
import { startCli } from "../fixtures/run-cli.ts";
import { startServer } from "../fixtures/start-server.ts";

async function eventually(condition: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

t.test("a Watch client whose path goes black is freed: its watchers and its address's slot", async (t) => {
  const health = new HealthRegistry({ maxWatchers: 10 });
  const { server, port } = await startServer(t, {
    health,
    healthService: { maxWatchersPerAddress: 1 },
    http2: { keepaliveTimeMs: 300, keepaliveTimeoutMs: 300 },
  });
  const relay = await startBlackHoleRelay(t, port);
  // The client does not ping: only the server can notice.
  const watcher = startCli(t, ["watch", "-addr", relay.addr, "-keepalive-time", "0"]);
  await watcher.line(/SERVING/, 60_000);
  t.equal(server.health.watcherCount, 1);
  // The address's one slot is taken: another Watch from 127.0.0.1 is refused.
  const other = createHealthClient(`127.0.0.1:${port}`);
  t.teardown(() => other.close());
  await t.rejects(other.watch("").next(), { code: 8 }, "the per-address slot is taken");
  relay.blackHole();
  const started = Date.now();
  await eventually(() => server.health.watcherCount === 0, "the dead client's watcher freed");
  t.ok(Date.now() - started < 300 + 75 + 300 + 5_000, `freed in ${Date.now() - started} ms`);
  const watch = other.watch("");
  t.equal((await watch.next()).value, 1, "the slot is free again: a new Watch is served");
  await watch.return?.();
  t.equal(watcher.child.exitCode, null, "the client itself never noticed (it does not ping)");
});

t.test("without server keepalive the dead client's watcher stays", async (t) => {
  const { server, port } = await startServer(t, { http2: { keepaliveTimeMs: 0 } });
  const relay = await startBlackHoleRelay(t, port);
  const client = createHealthClient(relay.addr, { keepaliveTimeMs: 0 });
  t.teardown(() => client.close());
  const controller = new AbortController();
  const watch = client.watch("", { signal: controller.signal });
  await watch.next();
  relay.blackHole();
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  t.equal(server.health.watcherCount, 1);
  controller.abort();
});

t.test("a client flooding PINGs gets GOAWAY(ENHANCE_YOUR_CALM, too_many_pings)", async (t) => {
  const { port } = await startServer(t);
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on("error", () => {});
  t.teardown(() => session.destroy());
  const goaway = new Promise<{ code: number; data: string }>((resolve) =>
    session.once("goaway", (code: number, _last: number, data?: Buffer) =>
      resolve({ code, data: data?.toString() ?? "" }),
    ),
  );
  await new Promise((resolve) => session.once("remoteSettings", resolve));
  const flood = setInterval(() => {
    if (!session.closed && !session.destroyed) session.ping(() => {});
  }, 5);
  t.teardown(() => clearInterval(flood));
  t.same(await goaway, { code: http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, data: "too_many_pings" });
  await new Promise((resolve) => session.once("close", resolve));
  t.pass("the server closed the connection");
});

t.test("PINGs between answers are never strikes (a client measuring bandwidth per response)", async (t) => {
  const { port } = await startServer(t);
  const client = createHealthClient(`127.0.0.1:${port}`, { keepaliveTimeMs: 0 });
  t.teardown(() => client.close());
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on("error", () => {});
  t.teardown(() => session.destroy());
  let goaway = false;
  session.on("goaway", () => {
    goaway = true;
  });
  await new Promise((resolve) => session.once("remoteSettings", resolve));
  for (let i = 0; i < 10; i++) {
    // An answer on the session, then a PING: as grpc-go's BDP estimator does.
    const stream = session.request({
      ":method": "POST",
      ":path": "/grpc.health.v1.Health/Check",
      "content-type": "application/grpc",
      te: "trailers",
    });
    stream.end(Buffer.from([0, 0, 0, 0, 0]));
    stream.resume();
    await new Promise((resolve) => stream.once("close", resolve));
    await new Promise<void>((resolve) => session.ping(() => resolve()));
  }
  t.notOk(goaway);
  t.notOk(session.closed);
});

t.test("a client sent away for too many pings pings half as often on its next connection", async (t) => {
  const { port } = await startServer(t, { http2: { minPingIntervalMs: 60_000 } });
  const pool = new SessionPool({ keepaliveTimeMs: 20, keepaliveTimeoutMs: 1_000 });
  t.teardown(() => pool.close());
  const authority = `http://127.0.0.1:${port}`;
  const stream = pool.request(authority, {
    ":method": "POST",
    ":path": "/grpc.health.v1.Health/Watch",
    "content-type": "application/grpc",
    te: "trailers",
  });
  stream.on("error", () => {});
  stream.end(Buffer.from([0, 0, 0, 0, 0]));
  stream.resume();
  await new Promise((resolve) => stream.once("close", resolve));
  await eventually(() => pool.keepaliveTimeMs === 40, "the keepalive time doubled");
  t.equal(pool.keepaliveTimeMs, 40);
});

t.test("keepalive settings", async (t) => {
  t.equal(keepalivePeriodMs(60_000), 5_000, "at most 5 s between looks");
  t.equal(keepalivePeriodMs(200), 50, "a quarter of the time");
  t.equal(keepalivePeriodMs(1), 1);
  t.throws(() => checkTransportTimeouts({ keepaliveTimeMs: -1 }, undefined), {
    message: /http2\.keepaliveTimeMs/,
  });
  t.throws(() => checkTransportTimeouts({ minPingIntervalMs: 0.5 }, undefined), {
    message: /http2\.minPingIntervalMs/,
  });
});
