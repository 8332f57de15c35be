// Client keepalive against a server in another process whose path turns into a black hole (TCP open, every
// byte dropped): the Watch fails with UNAVAILABLE "keepalive timeout", a follower reconnects, the picker
// stops routing to the endpoint, remoteHealthCheck fails.
import t from "tap";
import { createEndpointPicker } from "../../src/client/endpoint-picker.ts";
import { createHealthClient } from "../../src/client/health-client.ts";
import { remoteHealthCheck } from "../../src/client/remote-health-check.ts";
import { SessionPool } from "../../src/client/session-pool.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { startBlackHoleRelay } from "../fixtures/black-hole-relay.ts";
import { spawnCli } from "../fixtures/run-cli.ts";
import { spawnUpstream } from "../proxy/fixtures/proxy-harness.ts";

// Short settings so the tests run in a second or two; the defaults (10 s + 10 s) behave the same, slower.
const keepalive = { keepaliveTimeMs: 200, keepaliveTimeoutMs: 200 };
// keepaliveTimeMs + its look period (a quarter) + keepaliveTimeoutMs, plus a wide margin for a busy machine.
const detectionBoundMs = 200 + 50 + 200 + 3_000;
// The servers allow pings that often (their default policy, 5 s, would send our 200 ms pings away).
const calmServer = { http2: { minPingIntervalMs: 50 } };

async function eventually(condition: () => boolean | Promise<boolean>, what: string, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

t.test("a Watch through a black hole fails with UNAVAILABLE (keepalive timeout)", async (t) => {
  const upstream = await spawnUpstream(t, "a", 0, calmServer);
  const relay = await startBlackHoleRelay(t, upstream.port);
  const client = createHealthClient(relay.addr, keepalive);
  t.teardown(() => client.close());
  const watch = client.watch("");
  t.equal((await watch.next()).value, ServingStatus.Serving);
  // Quiet but alive: pings keep the stream open past several keepalive times.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  relay.blackHole();
  const started = Date.now();
  const error = await watch.next().then(
    () => undefined,
    (e: unknown) => e,
  );
  const tookMs = Date.now() - started;
  t.match(error, { code: 14, message: /keepalive timeout/ });
  t.ok(tookMs < detectionBoundMs, `noticed in ${tookMs} ms (bound ${detectionBoundMs})`);
});

t.test("without keepalive the same Watch stays open (the black hole is silent)", async (t) => {
  const upstream = await spawnUpstream(t, "a", 0, calmServer);
  const relay = await startBlackHoleRelay(t, upstream.port);
  const client = createHealthClient(relay.addr, { keepaliveTimeMs: 0 });
  t.teardown(() => client.close());
  const controller = new AbortController();
  const watch = client.watch("", { signal: controller.signal });
  t.equal((await watch.next()).value, ServingStatus.Serving);
  relay.blackHole();
  const next = watch.next();
  const outcome = await Promise.race([
    next.then(
      () => "ended",
      () => "failed",
    ),
    new Promise((resolve) => setTimeout(resolve, 1_500, "still open")),
  ]);
  t.equal(outcome, "still open");
  controller.abort();
  await next;
});

t.test(
  "the picker stops routing to a black-holed endpoint, routes to the other, reconnects with its backoff",
  async (t) => {
    const [a, b] = await Promise.all([
      spawnUpstream(t, "a", 0, calmServer),
      spawnUpstream(t, "b", 0, calmServer),
    ]);
    const relay = await startBlackHoleRelay(t, b.port);
    const direct = `http://127.0.0.1:${a.port}`;
    const relayed = `http://${relay.addr}`;
    const connectTimeoutMs = 500;
    // No jitter and a doubling: the delays are exact, 100, 200, 400, 800 ms, then 800.
    const backoff = { initialMs: 100, maxMs: 800, multiplier: 2, jitter: 0 };
    const picker = createEndpointPicker({
      endpoints: [direct, relayed],
      healthClient: { ...keepalive, connectTimeoutMs },
      lostStreamGraceMs: 100,
      backoff,
    });
    t.teardown(() => picker.close());
    const reconnects: { attempt: number; delayMs: number; time: number; error: string }[] = [];
    let lostAt = 0;
    picker.on((event) => {
      if (event.type === "disconnected" && event.endpoint === relayed && lostAt === 0) lostAt = Date.now();
      if (event.type === "reconnect" && event.endpoint === relayed && lostAt !== 0)
        reconnects.push({ ...event, error: event.error?.message ?? "" });
    });
    await picker.ready();
    await eventually(() => picker.routable.length === 2, "both endpoints routable");
    relay.blackHole();
    const started = Date.now();
    await eventually(() => !picker.routable.includes(relayed), "the black-holed endpoint dropped");
    const tookMs = Date.now() - started;
    t.ok(tookMs < detectionBoundMs + 100, `dropped in ${tookMs} ms`);
    t.same(picker.routable, [direct]);
    for (let i = 0; i < 4; i++) t.equal(picker.pick()?.endpoint, direct);

    // The follower reconnects: each attempt is a new connection the relay accepts (and black-holes, so the
    // handshake times out), the next one only after the backoff's delay.
    const attempts = () => relay.acceptedAt.filter((at) => at >= lostAt);
    await eventually(() => attempts().length >= 4, "four reconnection attempts", 20_000);
    const [first, ...rest] = reconnects;
    t.match(first?.error, /keepalive timeout/, "the first reconnect follows the keepalive death");
    t.same(
      reconnects.slice(0, 4).map((r) => r.delayMs),
      [100, 200, 400, 800],
      "delays as the backoff says",
    );
    t.ok(
      rest.slice(0, 3).every((r) => /timed out/.test(r.error)),
      "later attempts fail at the handshake",
    );
    const at = attempts();
    for (let k = 1; k < 4; k++) {
      const gapMs = at[k]! - at[k - 1]!;
      // Attempt k+1 starts once attempt k's handshake timed out and the next delay passed; a few ms of
      // slack for the two sides' clocks reading at different moments.
      const floorMs = connectTimeoutMs + reconnects[k]!.delayMs - 20;
      t.ok(
        gapMs >= floorMs && gapMs < floorMs + 3_000,
        `attempt ${k + 1}, ${gapMs} ms after the one before (at least ${floorMs})`,
      );
    }
    t.ok(at[3]! - at[2]! > at[1]! - at[0]!, "the gaps grow");
  },
);

t.test("remoteHealthCheck fails once its remote's path goes black", async (t) => {
  const upstream = await spawnUpstream(t, "a", 0, calmServer);
  const relay = await startBlackHoleRelay(t, upstream.port);
  const client = createHealthClient(relay.addr, { ...keepalive, connectTimeoutMs: 300 });
  t.teardown(() => client.close());
  const check = remoteHealthCheck({ client });
  t.teardown(() => check.close?.());
  const signal = new AbortController().signal;
  await check.run(signal);
  // The Watch stream has delivered SERVING: runs now read it without a request.
  await new Promise((resolve) => setTimeout(resolve, 300));
  await check.run(signal);
  relay.blackHole();
  const started = Date.now();
  let failure: unknown;
  await eventually(async () => {
    failure = await Promise.resolve(check.run(signal)).then(
      () => undefined,
      (e: unknown) => e,
    );
    return failure !== undefined;
  }, "a failing run");
  t.ok(Date.now() - started < detectionBoundMs + 500);
  t.match(failure, { message: /failed to connect|keepalive timeout/ });
});

t.test("keepalive options are checked", async (t) => {
  t.throws(() => new SessionPool({ keepaliveTimeMs: -1 }), {
    name: "ConfigError",
    message: /keepaliveTimeMs/,
  });
  t.throws(() => new SessionPool({ keepaliveTimeoutMs: 1.5 }), { message: /keepaliveTimeoutMs/ });
  t.equal(new SessionPool().keepaliveTimeMs, 10_000, "default 10 s");
  t.equal(new SessionPool({ keepaliveTimeMs: 0 }).keepaliveTimeMs, 0, "0 turns it off");
});

t.test("`triple-health watch` exits non-zero when its server's path goes black", async (t) => {
  const upstream = await spawnUpstream(t, "a", 0, calmServer);
  const relay = await startBlackHoleRelay(t, upstream.port);
  let blackAt = 0;
  const run = await spawnCli(
    ["watch", "-addr", relay.addr, "-keepalive-time", "200ms", "-keepalive-timeout", "200ms"],
    {
      onStdout: (stdout) => {
        if (blackAt === 0 && stdout.includes("SERVING")) {
          blackAt = Date.now();
          relay.blackHole();
        }
      },
    },
  );
  const tookMs = Date.now() - blackAt;
  t.equal(run.code, 3, "the stream failed");
  t.match(run.stderr, /keepalive timeout/);
  t.ok(blackAt > 0 && tookMs < detectionBoundMs + 2_000, `exited ${tookMs} ms after the black hole`);
});
