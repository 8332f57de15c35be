import t from "tap";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { type HealthCheck, HealthCheckRunner } from "../../src/health/checks.ts";
import { type HealthChangeEvent, HealthRegistry } from "../../src/health/registry.ts";
import { FakeClock } from "../../src/testing/fake-clock.ts";
import { ConfigError } from "../../src/wire/config-error.ts";

const { Serving, NotServing } = ServingStatus;

function setup(random: () => number = () => 0.5) {
  const clock = new FakeClock(0);
  const registry = new HealthRegistry({ now: () => clock.now() });
  const events: HealthChangeEvent[] = [];
  registry.onChange((e) => events.push(e));
  const runner = new HealthCheckRunner(registry, { clock, random });
  return { clock, registry, runner, events };
}

/** A check whose outcome the test sets before each attempt. */
function scripted(outcomes: Array<"ok" | "fail" | "hang" | "false" | "throw">) {
  let index = 0;
  let running = 0;
  let maxRunning = 0;
  const signals: AbortSignal[] = [];
  const hung: Array<(ok: boolean) => void> = [];
  const run = (signal: AbortSignal): unknown => {
    const outcome = outcomes[index++] ?? "ok";
    signals.push(signal);
    if (outcome === "throw") throw new Error("sync throw");
    if (outcome === "false") return false;
    running++;
    maxRunning = Math.max(maxRunning, running);
    if (outcome === "hang")
      return new Promise((resolve, reject) => {
        hung.push((ok) => {
          running--;
          if (ok) resolve(undefined);
          else reject(new Error("late failure"));
        });
      });
    running--;
    return outcome === "ok" ? Promise.resolve() : Promise.reject(new Error("connection refused"));
  };
  return {
    run,
    signals,
    hung,
    get calls() {
      return index;
    },
    get maxRunning() {
      return maxRunning;
    },
  };
}

const base = { intervalMs: 1000, timeoutMs: 100, jitter: 0 } satisfies Partial<HealthCheck>;

t.test("failure and success thresholds", async (t) => {
  const { clock, registry, runner, events } = setup();
  registry.set("db-user", Serving);
  const probe = scripted(["fail", "fail", "ok", "fail", "fail", "fail", "ok", "fail", "ok", "ok"]);
  runner.add({
    ...base,
    name: "db",
    services: ["db-user"],
    run: probe.run,
    failureThreshold: 3,
    successThreshold: 2,
    initiallyPassing: true,
  });
  const statuses: Array<ServingStatus | undefined> = [];
  for (let i = 0; i < 10; i++) {
    await clock.advance(i === 0 ? 0 : 1000);
    statuses.push(registry.get("db-user"));
  }
  t.equal(probe.calls, 10);
  t.same(statuses, [
    Serving, // fail 1
    Serving, // fail 2
    Serving, // ok resets the count
    Serving, // fail 1
    Serving, // fail 2
    NotServing, // fail 3 → threshold
    NotServing, // ok 1 of 2
    NotServing, // fail: success count resets
    NotServing, // ok 1
    Serving, // ok 2 → recovered
  ]);
  const changes = events.filter((e) => e.service === "db-user").map((e) => [e.status, e.reason, e.time]);
  t.same(changes, [
    [Serving, "set", 0],
    [NotServing, "db: connection refused", 5000],
    [Serving, "db: passing again", 9000],
  ]);
  const [state] = runner.states();
  t.match(state, {
    name: "db",
    services: ["db-user"],
    passing: true,
    consecutiveFailures: 0,
    consecutiveSuccesses: 2,
    attempts: 10,
    lastError: "connection refused",
    lastAttemptAt: 9000,
    running: false,
  });
  await runner.close();
});

t.test("a check bound to several services, and the reason shows the latest error", async (t) => {
  const { clock, registry, runner } = setup();
  let message = "first";
  runner.add({
    ...base,
    name: "dep",
    services: ["a", "b", ""],
    failureThreshold: 1,
    initiallyPassing: true,
    run: () => Promise.reject(new Error(message)),
  });
  t.equal(registry.get("a"), Serving, "registered at once");
  await clock.advance(0);
  t.same([registry.get("a"), registry.get("b"), registry.get("")], [NotServing, NotServing, NotServing]);
  message = "second";
  await clock.advance(1000);
  t.same(registry.snapshot().find((s) => s.service === "b")?.failing, [
    { source: "dep", reason: "dep: second" },
  ]);
  await runner.close();
});

t.test("throws, rejections, false and non-Error values all fail", async (t) => {
  const { clock, runner } = setup();
  const probe = scripted(["throw", "false", "fail"]);
  runner.add({ ...base, name: "mixed", services: ["x"], run: probe.run, failureThreshold: 10 });
  const errors: Array<string | undefined> = [];
  for (let i = 0; i < 3; i++) {
    await clock.advance(i === 0 ? 0 : 1000);
    errors.push(runner.states()[0]?.lastError);
  }
  t.same(errors, ["sync throw", "returned false", "connection refused"]);
  runner.add({
    ...base,
    name: "odd",
    services: ["y"],
    failureThreshold: 1,
    run: () => Promise.reject("plain string"),
  });
  runner.add({
    ...base,
    name: "nameless",
    services: ["z"],
    failureThreshold: 1,
    run: () => {
      throw new TypeError("");
    },
  });
  await clock.advance(1000);
  t.same(
    runner.states().map((s) => s.lastError),
    ["connection refused", "plain string", "TypeError"],
  );
  await runner.close();
});

t.test("a hung check fails at its timeout, once, and never runs twice at a time", async (t) => {
  const { clock, registry, runner } = setup();
  const probe = scripted(["hang", "ok", "hang", "ok"]);
  runner.add({
    ...base,
    name: "slow",
    services: ["s"],
    run: probe.run,
    failureThreshold: 2,
    initiallyPassing: true,
  });
  await clock.advance(0);
  t.equal(probe.calls, 1);
  t.notOk(probe.signals[0]?.aborted);
  await clock.advance(99);
  t.equal(runner.states()[0]?.consecutiveFailures, 0, "not yet at the timeout");
  await clock.advance(1);
  t.ok(probe.signals[0]?.aborted, "the attempt's signal aborts at the timeout");
  t.match(probe.signals[0]?.reason, { name: "TimeoutError" });
  t.match(runner.states()[0], { consecutiveFailures: 1, lastError: "timed out after 100 ms", running: true });
  t.equal(registry.get("s"), Serving, "one failure of two");
  // Next tick (1000 ms after the timeout): the first attempt still hangs → a failure, no new attempt.
  await clock.advance(1000);
  t.equal(probe.calls, 1, "no second attempt while the first hangs");
  t.match(runner.states()[0], {
    consecutiveFailures: 2,
    lastError: "previous attempt still running past its timeout",
  });
  t.equal(registry.get("s"), NotServing);
  // It settles late, successfully: not counted at all.
  probe.hung[0]?.(true);
  await clock.advance(0);
  t.match(runner.states()[0], { consecutiveFailures: 2, consecutiveSuccesses: 0, running: false });
  await clock.advance(1000);
  t.equal(probe.calls, 2);
  t.equal(registry.get("s"), Serving, "the next real attempt passes");
  // A second hang that settles late with a failure: counted once, at the timeout.
  await clock.advance(1000);
  await clock.advance(100);
  t.equal(runner.states()[0]?.consecutiveFailures, 1);
  probe.hung[1]?.(false);
  await clock.advance(0);
  t.equal(runner.states()[0]?.consecutiveFailures, 1, "the late rejection is not counted again");
  t.equal(probe.maxRunning, 1);
  await runner.close();
});

t.test("attempts are spaced by the interval after each conclusion", async (t) => {
  const { clock, runner } = setup();
  const times: number[] = [];
  runner.add({
    ...base,
    name: "tick",
    services: ["t"],
    initialDelayMs: 500,
    run: () => {
      times.push(clock.now());
    },
  });
  await clock.advance(3600);
  t.same(times, [500, 1500, 2500, 3500]);
  await runner.close();
  t.equal(clock.pendingTimers, 0, "close leaves no timer behind");
});

t.test("jitter stays within its bounds", async (t) => {
  for (const [random, first, next] of [
    [0, 0, 800],
    [0.5, 100, 1000],
    [0.999999, 199.9998, 1199.9996],
  ] as const) {
    const { clock, runner } = setup(() => random);
    runner.add({ ...base, name: "j", services: ["j"], jitter: 0.2, run: () => {} });
    t.same(clock.pendingTimes, [first], `first attempt after ${first} ms`);
    await clock.advance(first);
    t.equal(clock.pendingTimes.length, 1);
    t.ok(Math.abs((clock.pendingTimes[0] ?? 0) - first - next) < 1e-6, `next after ${next} ms`);
    await runner.close();
  }
  // With real randomness every wait is in [interval·(1−j), interval·(1+j)].
  const { clock, runner } = setup(Math.random);
  const times: number[] = [];
  runner.add({ ...base, name: "r", services: ["r"], jitter: 0.25, run: () => void times.push(clock.now()) });
  await clock.advance(60_000);
  t.ok(times.length > 40);
  t.ok((times[0] ?? -1) >= 0 && (times[0] ?? Infinity) < 250);
  for (let i = 1; i < times.length; i++) {
    const gap = (times[i] ?? 0) - (times[i - 1] ?? 0);
    t.ok(gap >= 750 && gap <= 1250, `gap ${gap}`);
  }
  await runner.close();
});

t.test("startFailing holds services down until the success threshold", async (t) => {
  const { clock, registry, runner } = setup();
  registry.set("ready", Serving);
  runner.add({
    ...base,
    name: "warmup",
    services: ["ready"],
    startFailing: true,
    successThreshold: 2,
    run: () => {},
  });
  t.equal(registry.get("ready"), NotServing);
  t.same(registry.snapshot().find((s) => s.service === "ready")?.failing, [
    { source: "warmup", reason: "warmup: not passed yet" },
  ]);
  await clock.advance(0);
  t.equal(registry.get("ready"), NotServing);
  await clock.advance(1000);
  t.equal(registry.get("ready"), Serving);
  await runner.close();
});

t.test("remove lifts the hold, aborts the attempt and closes the probe", async (t) => {
  const { clock, registry, runner } = setup();
  const probe = scripted(["fail", "hang"]);
  let closed = 0;
  const remove = runner.add({
    ...base,
    name: "p",
    services: ["a", "gone"],
    failureThreshold: 1,
    run: probe.run,
    close: () => {
      closed++;
    },
  });
  await clock.advance(0);
  t.equal(registry.get("a"), NotServing);
  await clock.advance(1000);
  t.equal(probe.calls, 2);
  registry.clear("gone");
  await remove();
  await remove(); // twice is harmless
  t.equal(closed, 1);
  t.ok(probe.signals[1]?.aborted);
  t.match(probe.signals[1]?.reason, { name: "AbortError" });
  t.equal(registry.get("a"), Serving);
  t.notOk(registry.has("gone"), "a cleared service is not registered again");
  probe.hung[0]?.(false);
  await clock.advance(5000);
  t.equal(probe.calls, 2, "no attempt after removal");
  t.equal(clock.pendingTimers, 0);
  t.same(runner.states(), []);
});

t.test("settings are validated; names are unique; a closed runner takes no check", async (t) => {
  const { runner } = setup();
  const run = () => {};
  runner.add({ name: "one", services: [], run });
  t.throws(() => runner.add({ name: "one", services: [], run }), ConfigError);
  t.throws(() => runner.add({ name: "i", services: [], run, intervalMs: 0 }), /intervalMs must be ≥ 1/);
  t.throws(() => runner.add({ name: "t", services: [], run, timeoutMs: Number.NaN }), /timeoutMs/);
  t.throws(() => runner.add({ name: "d", services: [], run, initialDelayMs: -1 }), /initialDelayMs/);
  t.throws(() => runner.add({ name: "f", services: [], run, failureThreshold: 0 }), /failureThreshold/);
  t.throws(() => runner.add({ name: "s", services: [], run, successThreshold: 0 }), /successThreshold/);
  t.throws(() => runner.add({ name: "j", services: [], run, jitter: 1 }), /jitter/);
  t.throws(
    () => runner.add({ name: "r", services: [], run: 5 as unknown as () => void }),
    /run must be a function/,
  );
  t.same(
    runner.states().map((s) => s.name),
    ["one"],
  );
  await runner.close();
  t.throws(() => runner.add({ name: "late", services: [], run }), /closed/);
});

t.test("the default clock runs checks on real (unref'd) timers", async (t) => {
  const registry = new HealthRegistry();
  const runner = new HealthCheckRunner(registry);
  const ran = new Promise<void>((resolve) => {
    runner.add({
      name: "real",
      services: ["r"],
      intervalMs: 5,
      jitter: 0,
      failureThreshold: 1,
      run: () => resolve(),
    });
  });
  // The runner's timers are unref'd: this one keeps the test process alive meanwhile.
  const keepAlive = setTimeout(() => {}, 10_000);
  await ran;
  await new Promise((resolve) => setImmediate(resolve));
  clearTimeout(keepAlive);
  await runner.close();
  t.equal(registry.get("r"), Serving);
});

t.test("a probe that learns of changes itself can start an attempt at once", async (t) => {
  const { clock, registry, runner } = setup();
  let rerun: (() => void) | undefined;
  let unsubscribed = 0;
  let healthy = true;
  let hang: (() => void) | undefined;
  const times: number[] = [];
  runner.add({
    ...base,
    name: "pushed",
    services: ["p"],
    failureThreshold: 1,
    run: () => {
      times.push(clock.now());
      if (hang !== undefined) return new Promise<void>((resolve) => (hang = resolve));
      if (!healthy) throw new Error("told so");
      return undefined;
    },
    subscribe(callback) {
      rerun = callback;
      return () => {
        unsubscribed++;
      };
    },
  });
  await clock.advance(0);
  await clock.advance(300);
  healthy = false;
  rerun?.();
  await clock.advance(0);
  t.equal(registry.get("p"), NotServing, "judged at once, not at the next tick");
  t.same(times, [0, 300]);
  t.same(clock.pendingTimes, [1300], "the schedule restarts from the pushed attempt");
  hang = () => {};
  await clock.advance(1000);
  rerun?.(); // ignored: an attempt is running
  t.same(times, [0, 300, 1300]);
  await runner.close();
  rerun?.(); // ignored: closed
  t.equal(unsubscribed, 1);
  t.same(times, [0, 300, 1300]);
});

t.test(
  "a check that has not passed yet holds its services NOT_SERVING, with its last error as the reason",
  async (t) => {
    const { clock, registry, runner, events } = setup();
    const probe = scripted(["fail", "fail", "ok", "fail", "fail", "fail", "ok"]);
    runner.add({ ...base, name: "db", services: ["db-user"], run: probe.run, failureThreshold: 3 });
    const heard: ServingStatus[] = [];
    registry.subscribe("db-user", { onStatus: (status) => heard.push(status) });
    t.equal(registry.get("db-user"), NotServing, "NOT_SERVING before any attempt (Kubernetes readiness)");
    t.equal(registry.snapshotOf("db-user")?.reason, "db: not passed yet");
    await clock.advance(0);
    t.equal(
      registry.snapshotOf("db-user")?.reason,
      "db: connection refused",
      "the reason names the error at once",
    );
    for (let i = 1; i < 7; i++) await clock.advance(1000);
    t.same(
      events.filter((e) => e.service === "db-user").map((e) => [e.previous, e.status, e.reason]),
      [
        [undefined, NotServing, "db: not passed yet"],
        [NotServing, NotServing, "db: connection refused"],
        [NotServing, Serving, "db: passed"],
        [Serving, NotServing, "db: connection refused"],
        [NotServing, Serving, "db: passing again"],
      ],
      "a first success is 'passed', a later one 'passing again'",
    );
    t.same(heard, [NotServing, Serving, NotServing, Serving], "Watch streams hear status changes only");
    t.match(runner.states()[0], { everPassed: true, passing: true });
    await runner.close();
  },
);

t.test(
  "initiallyPassing (and the deprecated startFailing: false) keeps the services' status at first",
  async (t) => {
    const { registry, runner } = setup();
    const run = () => {};
    runner.add({ ...base, name: "live", services: ["a"], run, initiallyPassing: true });
    runner.add({ ...base, name: "old", services: ["b"], run, startFailing: false });
    runner.add({ ...base, name: "ready", services: ["c"], run, startFailing: true });
    t.same([registry.get("a"), registry.get("b"), registry.get("c")], [Serving, Serving, NotServing]);
    t.match(runner.states(), [{ everPassed: true }, { everPassed: true }, { everPassed: false }]);
    await runner.close();
  },
);

t.test(
  "a check's state says what it probes, how long the last attempt took and when the next is due",
  async (t) => {
    const { clock, runner } = setup();
    let attemptMs = 30;
    runner.add({
      ...base,
      name: "db",
      target: "tcp://db:5432",
      services: ["db"],
      initialDelayMs: 500,
      run: () => new Promise((resolve) => clock.setTimeout(() => resolve(undefined), attemptMs)),
    });
    t.match(runner.states()[0], {
      target: "tcp://db:5432",
      lastDurationMs: undefined,
      nextAttemptAt: 500,
    });
    await clock.advance(500);
    t.match(runner.states()[0], { running: true, nextAttemptAt: undefined }, "none due while one runs");
    await clock.advance(30);
    t.match(runner.states()[0], { running: false, lastDurationMs: 30, nextAttemptAt: 1530 });
    attemptMs = 500;
    await clock.advance(1000);
    await clock.advance(100);
    t.match(
      runner.states()[0],
      { lastDurationMs: 100, lastError: "timed out after 100 ms", nextAttemptAt: 2630 },
      "a timed-out attempt took its timeout",
    );
    await runner.close();
    t.same(runner.states(), [], "a closed runner has no checks");
  },
);
