// The endpoint picker against scripted health sources and a fake clock: backoff, grace, panic and
// ejection decided by time the test moves, never by sleeping.
import t from "tap";
import {
  createEndpointPicker,
  type EndpointPicker,
  type EndpointPickerOptions,
} from "../../src/client/endpoint-picker.ts";
import type { RemoteHealthSource } from "../../src/client/health-follower.ts";
import { newOutlierState, recordFailure, resolveOutlier } from "../../src/client/outlier-detector.ts";
import { backoffDelay, resolveBackoff } from "../../src/client/picker-backoff.ts";
import type { PickerEvent } from "../../src/client/picker-events.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { FakeClock } from "../../src/testing/fake-clock.ts";
import { Code } from "../../src/wire/code.ts";
import { ConfigError } from "../../src/wire/config-error.ts";
import { RpcError } from "../../src/wire/rpc-error.ts";
import { FakeUpstream } from "./fixtures/fake-upstream.ts";

const { Serving, NotServing, ServiceUnknown } = ServingStatus;

function setup(
  count: number,
  options: Partial<EndpointPickerOptions> = {},
  prepare: (upstreams: FakeUpstream[]) => void = () => {},
) {
  const clock = new FakeClock(1_000);
  const upstreams = new Map<string, FakeUpstream>();
  const names = Array.from({ length: count }, (_, i) => `http://127.0.0.1:${9001 + i}`);
  for (const name of names) upstreams.set(name, new FakeUpstream());
  prepare([...upstreams.values()]);
  const events: PickerEvent[] = [];
  const picker = createEndpointPicker({
    endpoints: names,
    service: "greet.GreetService",
    clock,
    random: () => 0.5, // no jitter unless a test says so
    healthSource: (endpoint) => upstreams.get(endpoint)!,
    ...options,
  });
  picker.on((event) => events.push(event));
  const up = (i: number) => upstreams.get(names[i]!)!;
  return { clock, picker, names, up, events, upstreams };
}

function picks(picker: EndpointPicker, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const picked = picker.pick();
    out.push(picked?.endpoint ?? "none");
    picked?.done("success");
  }
  return out;
}

function port(endpoint: string): string {
  return endpoint.slice(-4);
}

t.test("round robin over SERVING endpoints; NOT_SERVING ones get nothing", async (t) => {
  const { clock, picker, names, up, events } = setup(3);
  t.teardown(() => picker.close());
  await picker.ready();
  await clock.advance(0);
  t.equal(picker.healthyCount, 3);
  t.same(picks(picker, 6).map(port).sort(), ["9001", "9001", "9002", "9002", "9003", "9003"]);
  up(1).set(NotServing);
  await clock.advance(0);
  t.same(picker.routable, [names[0], names[2]]);
  t.notOk(picks(picker, 10).includes(names[1]!), "no call to the NOT_SERVING endpoint");
  const status = events.find((e) => e.type === "status" && e.status === NotServing);
  t.match(status, { endpoint: names[1], previous: Serving, reason: "watch: NOT_SERVING" });
  t.ok(
    events.some((e) => e.type === "routable" && e.endpoints.length === 2),
    "routable event",
  );
  up(1).set(Serving);
  await clock.advance(0);
  t.equal(picker.routable.length, 3);
  t.same(picker.snapshot()[1], {
    endpoint: names[1],
    status: Serving,
    connected: true,
    reachable: true,
    healthy: true,
    ejected: false,
    outstanding: 0,
    consecutiveFailures: 0,
  });
});

t.test("least outstanding calls: the idle endpoint wins, ties taken in turn", async (t) => {
  const { clock, picker, names } = setup(3, { policy: "least-outstanding" });
  t.teardown(() => picker.close());
  await clock.advance(0);
  const a = picker.pick()!;
  const b = picker.pick()!;
  t.not(a.endpoint, b.endpoint);
  const c = picker.pick()!;
  t.same([a, b, c].map((p) => p.endpoint).sort(), names, "one each while all are busy once");
  a.done("success");
  t.equal(picker.pick()?.endpoint, a.endpoint, "the endpoint that finished is the least loaded");
  t.equal(picker.snapshot().find((s) => s.endpoint === a.endpoint)?.outstanding, 1);
  a.done("failure"); // a second done() is ignored
  t.equal(picker.snapshot().find((s) => s.endpoint === a.endpoint)?.consecutiveFailures, 0);
  t.equal(picker.pick(new Set(names))?.endpoint, undefined, "everything excluded");
});

t.test("exclude skips endpoints in round robin too", async (t) => {
  const { clock, picker, names } = setup(2);
  t.teardown(() => picker.close());
  await clock.advance(0);
  for (let i = 0; i < 4; i++) t.equal(picker.pick(new Set([names[0]!]))?.endpoint, names[1]);
});

t.test("a refused endpoint is retried with exponential backoff and jitter", async (t) => {
  const { clock, picker, up, events, names } = setup(
    2,
    { backoff: { initialMs: 100, maxMs: 1000, multiplier: 2, jitter: 0.2 } },
    (upstreams) => {
      upstreams[1]!.up = false;
    },
  );
  t.teardown(() => picker.close());
  await picker.ready();
  await clock.advance(0);
  t.equal(up(1).watches, 1);
  await clock.advance(3000);
  const delays = events
    .filter((e) => e.type === "reconnect" && e.endpoint === names[1])
    .map((e) => (e as { delayMs: number }).delayMs);
  t.same(delays.slice(0, 6), [100, 200, 400, 800, 1000, 1000], "doubling, capped at maxMs");
  t.equal(up(1).watches, delays.length, "one attempt per scheduled reconnect");
  t.same(picker.routable, [names[0]], "never routable while refused");
  // Back: the next attempt connects and the backoff starts over.
  up(1).up = true;
  await clock.advance(1000);
  t.same(picker.routable.length, 2);
  t.ok(events.some((e) => e.type === "connected" && e.endpoint === names[1]));
  up(1).crash();
  up(1).up = true;
  await clock.advance(0);
  const last = events.filter((e) => e.type === "reconnect").at(-1) as { attempt: number; delayMs: number };
  t.same([last.attempt, last.delayMs], [1, 100], "reset after a stream that delivered");
});

t.test("backoff delays: jitter bounds, caps and validation", async (t) => {
  const options = resolveBackoff({ initialMs: 1000, maxMs: 120_000, multiplier: 1.6, jitter: 0.2 });
  t.equal(
    backoffDelay(0, options, () => 0),
    800,
  );
  t.equal(
    backoffDelay(0, options, () => 0.999999),
    1200,
  );
  t.equal(
    backoffDelay(1, options, () => 0.5),
    1600,
  );
  t.equal(
    backoffDelay(100, options, () => 0.5),
    120_000,
  );
  t.equal(
    backoffDelay(-1, options, () => 0.5),
    1000,
  );
  t.same(resolveBackoff(), { initialMs: 100, maxMs: 5000, multiplier: 1.6, jitter: 0.2 });
  t.throws(() => resolveBackoff({ initialMs: 10, maxMs: 5 }), ConfigError);
  t.throws(() => resolveBackoff({ multiplier: 0.5 }), ConfigError);
  t.throws(() => resolveBackoff({ jitter: 2 }), ConfigError);
});

t.test("a lost stream keeps its status for the grace, then counts as not serving", async (t) => {
  const { clock, picker, up, events, names } = setup(4, {
    lostStreamGraceMs: 500,
    backoff: { initialMs: 10_000, maxMs: 10_000 },
  });
  t.teardown(() => picker.close());
  await clock.advance(0);
  up(0).crash();
  await clock.advance(0);
  t.match(events.at(-2), { type: "disconnected", endpoint: names[0], error: { code: Code.Unavailable } });
  t.equal(picker.routable.length, 4, "still routable within the grace");
  t.ok(picker.snapshot()[0]!.reachable);
  await clock.advance(499);
  t.equal(picker.routable.length, 4);
  await clock.advance(1);
  t.same(picker.routable, names.slice(1), "gone when the grace is over");
  t.match(
    events.find((e) => e.type === "status" && e.status === undefined),
    {
      endpoint: names[0],
      previous: Serving,
      reason: "health stream lost for 500 ms",
    },
  );
  // The stream comes back before the next attempt is due? No: it waits for the backoff.
  up(0).up = true;
  await clock.advance(9_000);
  t.equal(picker.routable.length, 3);
  await clock.advance(1_000);
  t.equal(picker.routable.length, 4, "reconnected after the backoff");
});

t.test("a stream the server ends cleanly is reopened; grace 0 reacts at once", async (t) => {
  const { clock, picker, up, names } = setup(2, {
    lostStreamGraceMs: 0,
    backoff: { initialMs: 50, maxMs: 50 },
  });
  t.teardown(() => picker.close());
  await clock.advance(0);
  up(1).stream!.end();
  await clock.advance(0);
  t.same(picker.routable, [names[0]], "not serving as soon as the stream is gone");
  await clock.advance(50);
  t.equal(picker.routable.length, 2);
  t.equal(up(1).watches, 2);
});

t.test("panic: below the threshold every reachable endpoint takes calls", async (t) => {
  const { clock, picker, up, events, names } = setup(3);
  t.teardown(() => picker.close());
  await clock.advance(0);
  up(0).set(NotServing);
  await clock.advance(0);
  t.notOk(picker.panic, "2 of 3 healthy is above one half");
  up(1).set(NotServing);
  await clock.advance(0);
  t.ok(picker.panic);
  t.match(events.filter((e) => e.type === "panic").at(-1), { active: true, healthy: 1, total: 3 });
  t.same(picker.routable, names, "panic spreads over all three");
  const picked = picker.pick()!;
  t.ok(picked.panic);
  picked.done("cancelled");
  up(0).set(NotServing);
  up(2).set(NotServing);
  await clock.advance(0);
  t.equal(picker.healthyCount, 0);
  t.same(picker.routable, names, "all unhealthy: still all, by the panic rule");
  up(2).crash();
  await clock.advance(5_000);
  t.same(picker.routable, names.slice(0, 2), "an unreachable endpoint gets nothing even in panic");
  up(0).set(Serving);
  up(1).set(Serving);
  await clock.advance(0);
  t.notOk(picker.panic);
  t.match(events.filter((e) => e.type === "panic").at(-1), { active: false, healthy: 2 });
});

t.test("panic threshold 0: no healthy endpoint means no pick", async (t) => {
  const { clock, picker, up } = setup(2, { panicThreshold: 0 });
  t.teardown(() => picker.close());
  await clock.advance(0);
  up(0).set(NotServing);
  up(1).set(ServiceUnknown);
  await clock.advance(0);
  t.notOk(picker.panic);
  t.equal(picker.pick(), undefined);
});

t.test("consecutive failures eject an endpoint for a growing time", async (t) => {
  const { clock, picker, events, names } = setup(3, {
    outlier: { consecutiveFailures: 3, baseEjectionMs: 1000, maxEjectionMs: 2500 },
  });
  t.teardown(() => picker.close());
  await clock.advance(0);
  const failOn = (endpoint: string, times: number) => {
    for (let n = 0; n < times; ) {
      const picked = picker.pick()!;
      if (picked.endpoint === endpoint) {
        picked.done("failure");
        n++;
      } else picked.done("success");
    }
  };
  failOn(names[0]!, 2);
  const mid = picker.pick(new Set([names[1]!, names[2]!]))!;
  mid.done("success");
  t.equal(picker.snapshot()[0]!.consecutiveFailures, 0, "a success ends the run");
  failOn(names[0]!, 3);
  t.match(
    events.find((e) => e.type === "ejected"),
    { endpoint: names[0], durationMs: 1000, ejections: 1 },
  );
  t.same(picker.routable, names.slice(1));
  t.ok(picker.snapshot()[0]!.ejected);
  await clock.advance(1000);
  t.match(
    events.find((e) => e.type === "restored"),
    { endpoint: names[0], reason: "ejection time over" },
  );
  t.equal(picker.routable.length, 3);
  failOn(names[0]!, 3);
  t.match(events.filter((e) => e.type === "ejected").at(-1), { durationMs: 2000, ejections: 2 });
  await clock.advance(2000);
  failOn(names[0]!, 3);
  t.match(events.filter((e) => e.type === "ejected").at(-1), { durationMs: 2500, ejections: 3 }, "capped");
  // Only one of three may be ejected at a time (maxEjectedShare 0.5).
  failOn(names[1]!, 5);
  t.equal(events.filter((e) => e.type === "ejected").length, 3, "a second ejection is refused");
  t.equal(picker.routable.length, 2);
  // A quiet maxEjectionMs after the last ejection forgets the past ones.
  await clock.advance(2500 + 2500);
  failOn(names[0]!, 3);
  t.match(events.filter((e) => e.type === "ejected").at(-1), {
    endpoint: names[0],
    durationMs: 1000,
    ejections: 1,
  });
});

t.test("a new health stream after a lost one lifts an ejection", async (t) => {
  const { clock, picker, up, events, names } = setup(2, {
    outlier: { consecutiveFailures: 1, baseEjectionMs: 60_000 },
    backoff: { initialMs: 100, maxMs: 100 },
  });
  t.teardown(() => picker.close());
  await clock.advance(0);
  let picked = picker.pick()!;
  while (picked.endpoint !== names[0]) {
    picked.done("success");
    picked = picker.pick()!;
  }
  picked.done("failure");
  t.ok(picker.snapshot()[0]!.ejected);
  up(0).crash();
  up(0).up = true;
  await clock.advance(100);
  t.match(
    events.find((e) => e.type === "restored"),
    { endpoint: names[0], reason: "new health stream" },
  );
  t.notOk(picker.snapshot()[0]!.ejected);
});

t.test("outlier bookkeeping: off at 0, validation", async (t) => {
  const off = resolveOutlier({ consecutiveFailures: 0 });
  const state = newOutlierState();
  for (let i = 0; i < 100; i++) t.equal(recordFailure(state, off, 0, 0, 3), undefined);
  t.throws(() => resolveOutlier({ consecutiveFailures: 1.5 }), ConfigError);
  t.throws(() => resolveOutlier({ baseEjectionMs: 0 }), ConfigError);
  t.throws(() => resolveOutlier({ maxEjectedShare: 3 }), ConfigError);
});

t.test("polling Check instead of Watch", async (t) => {
  const { clock, picker, up, events, names } = setup(2, {
    healthMode: "poll",
    pollIntervalMs: 1000,
    lostStreamGraceMs: 0,
  });
  t.teardown(() => picker.close());
  await picker.ready();
  await clock.advance(0);
  t.equal(picker.routable.length, 2);
  t.equal(up(0).watches, 0);
  up(0).status = NotServing;
  await clock.advance(999);
  t.equal(picker.routable.length, 2, "not seen before the next poll");
  await clock.advance(1);
  t.same(picker.routable, [names[1]]);
  up(1).checkError = new RpcError(Code.NotFound, "unknown service");
  await clock.advance(1000);
  t.match(events.filter((e) => e.type === "status").at(-1), { endpoint: names[1], status: ServiceUnknown });
  up(1).checkError = undefined;
  up(1).up = false;
  await clock.advance(1000);
  t.match(events.filter((e) => e.type === "disconnected").at(-1), { endpoint: names[1] });
  t.ok(up(0).checks >= 4);
});

t.test("a server without Watch is polled instead", async (t) => {
  const { clock, picker, up, names } = setup(2, { pollIntervalMs: 200 }, (upstreams) => {
    upstreams[1]!.watchError = new RpcError(Code.Unimplemented, "unknown method Watch");
  });
  t.teardown(() => picker.close());
  await clock.advance(0);
  t.equal(picker.routable.length, 2);
  up(1).status = NotServing;
  await clock.advance(200);
  t.same(picker.routable, [names[0]]);
  t.equal(up(1).watches, 1);
  t.ok(up(1).checks >= 2);
});

t.test("ready() waits for every endpoint's first answer or failure", async (t) => {
  const clock = new FakeClock();
  const slow = new FakeUpstream();
  let release: (() => void) | undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const fast = new FakeUpstream();
  const source = (endpoint: string): RemoteHealthSource =>
    endpoint.endsWith("1")
      ? fast
      : {
          watch: (service, options) => ({
            async *[Symbol.asyncIterator]() {
              await gate;
              yield* slow.watch(service, options);
            },
          }),
          check: () => slow.check(),
          close: () => slow.close(),
        };
  const picker = createEndpointPicker({
    endpoints: ["h:1", "h:2", " h:1 ", ""],
    clock,
    healthSource: source,
  });
  t.same(picker.endpoints, ["h:1", "h:2"], "trimmed and deduplicated");
  let ready = false;
  void picker.ready().then(() => {
    ready = true;
  });
  await clock.advance(0);
  t.notOk(ready);
  release!();
  await clock.advance(0);
  t.ok(ready);
  await picker.ready();
  await picker.close();
  await picker.close();
  t.ok(fast.closed && slow.closed, "health sources closed");
  await picker.ready(); // resolves after close too
});

t.test("close() ends a pending ready() and all timers", async (t) => {
  const clock = new FakeClock();
  const never: RemoteHealthSource = {
    watch: () => ({ [Symbol.asyncIterator]: () => ({ next: () => new Promise(() => {}) }) }),
    check: () => new Promise(() => {}),
    close: async () => {},
  };
  const picker = createEndpointPicker({ endpoints: ["a:1"], clock, healthSource: () => never });
  const ready = picker.ready();
  await picker.close();
  await ready;
  t.equal(clock.pendingTimers, 0);
});

t.test("a listener that throws does not stop the others", async (t) => {
  const { clock, picker, up } = setup(2);
  t.teardown(() => picker.close());
  const warnings: string[] = [];
  const onWarning = (warning: Error) => warnings.push(warning.message);
  process.on("warning", onWarning);
  t.teardown(() => process.off("warning", onWarning));
  const off = picker.on(() => {
    throw new Error("boom");
  });
  let seen = 0;
  picker.on(() => seen++);
  await clock.advance(0);
  up(0).set(NotServing);
  await clock.advance(0);
  await new Promise((resolve) => setImmediate(resolve));
  t.ok(seen > 0);
  t.ok(warnings.some((w) => w.includes("boom")));
  off();
});

t.test("bad options", async (t) => {
  const source = () => new FakeUpstream();
  t.throws(() => createEndpointPicker({ endpoints: [], healthSource: source }), ConfigError);
  t.throws(
    () =>
      createEndpointPicker({ endpoints: ["a:1"], healthSource: source, policy: "random" as "round-robin" }),
    ConfigError,
  );
  t.throws(
    () => createEndpointPicker({ endpoints: ["a:1"], healthSource: source, panicThreshold: 2 }),
    ConfigError,
  );
  t.throws(
    () => createEndpointPicker({ endpoints: ["a:1"], healthSource: source, lostStreamGraceMs: -1 }),
    ConfigError,
  );
  t.throws(() => createEndpointPicker({ endpoints: ["ftp://x"] }), ConfigError, "bad address fails at once");
});
