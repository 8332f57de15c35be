// The one remote-health follower, alone: scripted sources and a fake clock, so every reopen, poll
// and loss happens when the test says.
import t from "tap";
import {
  type FollowerListener,
  HealthFollower,
  type RemoteHealthSource,
} from "../../src/client/health-follower.ts";
import { resolveBackoff } from "../../src/client/picker-backoff.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { FakeClock } from "../../src/testing/fake-clock.ts";
import { Code } from "../../src/wire/code.ts";
import { RpcError } from "../../src/wire/rpc-error.ts";

const { Serving, NotServing, ServiceUnknown } = ServingStatus;

/** Each watch() plays the next script (the last one repeats); check() answers from `checks`. */
function scripted(
  watches: Array<(signal: AbortSignal) => AsyncIterable<ServingStatus>>,
  checks: Array<() => ServingStatus> = [],
) {
  const seen = { watches: 0, checks: 0, timeouts: [] as (number | undefined)[] };
  const source: RemoteHealthSource = {
    watch(_service, { signal }) {
      const script = watches[Math.min(seen.watches++, watches.length - 1)]!;
      return script(signal);
    },
    async check(_service, options) {
      seen.timeouts.push(options.timeoutMs);
      const answer = checks[Math.min(seen.checks++, checks.length - 1)]!;
      return answer();
    },
  };
  return { source, seen };
}

function recorder() {
  const log: string[] = [];
  const listener: FollowerListener = {
    onStatus: (status, via) => log.push(`status ${status} via ${via}`),
    onLost: (error) => log.push(`lost ${error instanceof RpcError ? Code[error.code] : String(error)}`),
    onReconnect: (attempt, delayMs) => log.push(`reconnect ${attempt} in ${delayMs}`),
  };
  return { log, listener };
}

const untilAborted = (signal: AbortSignal) =>
  new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));

t.test("without backoff: reports changes only, reopens only when asked", async (t) => {
  const clock = new FakeClock();
  const { source, seen } = scripted([
    async function* () {
      yield Serving;
      yield Serving; // no change: not reported
      yield NotServing;
    },
    async function* (signal) {
      yield NotServing;
      await untilAborted(signal);
    },
  ]);
  const { log, listener } = recorder();
  const follower = new HealthFollower(source, "db", { clock }, listener);
  t.equal(follower.status, undefined);
  follower.follow();
  follower.follow(); // already following: one stream
  await clock.advance(0);
  t.same(log, [`status ${Serving} via watch`, `status ${NotServing} via watch`, "lost undefined"]);
  t.equal(follower.status, undefined, "the stream ended: no status");
  await clock.advance(60_000);
  t.equal(seen.watches, 1, "no reopen on its own");
  follower.follow();
  await clock.advance(0);
  t.equal(seen.watches, 2);
  t.equal(follower.status, NotServing);
  t.same(log.at(-1), `status ${NotServing} via watch`, "first status of a new stream counts as a change");
  follower.close();
  follower.close();
  t.equal(follower.status, undefined, "closed: no status");
  follower.follow();
  await clock.advance(0);
  t.equal(seen.watches, 2, "closed: no new stream");
  t.equal(log.length, 4, "nothing reported after close");
});

t.test("without backoff: a server without Watch is left alone", async (t) => {
  const { source, seen } = scripted(
    [
      // biome-ignore lint/correctness/useYield: a stream that fails before its first message
      async function* () {
        throw new RpcError(Code.Unimplemented, "no Watch");
      },
    ],
    [() => Serving],
  );
  const { log, listener } = recorder();
  const follower = new HealthFollower(source, "", {}, listener);
  follower.follow();
  await new Promise((resolve) => setImmediate(resolve));
  follower.follow();
  await new Promise((resolve) => setImmediate(resolve));
  t.same(log, ["lost Unimplemented"]);
  t.same([seen.watches, seen.checks], [1, 0], "no second Watch, no polling");
});

t.test("with backoff: reopens after growing delays, reset by a status", async (t) => {
  const clock = new FakeClock();
  let up = false;
  const { source, seen } = scripted([
    async function* (signal) {
      if (!up) throw new RpcError(Code.Unavailable, "refused");
      yield Serving;
      await untilAborted(signal);
    },
  ]);
  const { log, listener } = recorder();
  const backoff = resolveBackoff({ initialMs: 100, maxMs: 400, multiplier: 2, jitter: 0 });
  const follower = new HealthFollower(source, "", { backoff, clock }, listener);
  follower.follow();
  await clock.advance(100 + 200 + 400);
  t.same(log, [
    "lost Unavailable",
    "reconnect 1 in 100",
    "lost Unavailable",
    "reconnect 2 in 200",
    "lost Unavailable",
    "reconnect 3 in 400",
    "lost Unavailable",
    "reconnect 4 in 400",
  ]);
  up = true;
  await clock.advance(400);
  t.equal(follower.status, Serving);
  t.equal(seen.watches, 5);
  follower.close(new RpcError(Code.Canceled, "done"));
  t.equal(clock.pendingTimers, 0);
});

t.test("with backoff: a server without Watch is polled; NOT_FOUND is SERVICE_UNKNOWN", async (t) => {
  const clock = new FakeClock();
  const answers = [
    () => Serving,
    () => Serving,
    () => {
      throw new RpcError(Code.NotFound, "unknown service");
    },
    () => {
      throw new RpcError(Code.Unavailable, "refused");
    },
    () => NotServing,
  ];
  const { source, seen } = scripted(
    [
      // biome-ignore lint/correctness/useYield: a stream that fails before its first message
      async function* () {
        throw new RpcError(Code.Unimplemented, "no Watch");
      },
    ],
    answers,
  );
  const { log, listener } = recorder();
  const follower = new HealthFollower(
    source,
    "db",
    { backoff: resolveBackoff(), pollIntervalMs: 50, checkTimeoutMs: 20, clock },
    listener,
  );
  follower.follow();
  await clock.advance(4 * 50);
  t.same(log, [
    "lost Unimplemented",
    `status ${Serving} via check`,
    `status ${ServiceUnknown} via check: not found`,
    "lost Unavailable",
    "reconnect 1 in 50",
    `status ${NotServing} via check`,
  ]);
  t.equal(seen.watches, 1);
  t.same(seen.timeouts, [20, 20, 20, 20, 20], "each Check has the deadline");
  follower.close();
  t.equal(clock.pendingTimers, 0, "the next poll is cancelled");
  await clock.advance(1000);
  t.equal(seen.checks, 5);
});

t.test("poll mode, and a Check that settles after close is ignored", async (t) => {
  const clock = new FakeClock();
  let release: ((status: ServingStatus) => void) | undefined;
  let fail: ((error: unknown) => void) | undefined;
  let calls = 0;
  const source: RemoteHealthSource = {
    watch: () => {
      throw new Error("not used");
    },
    check: () =>
      new Promise((resolve, reject) => {
        calls++;
        release = resolve;
        fail = reject;
      }),
  };
  const { log, listener } = recorder();
  const follower = new HealthFollower(source, "", { mode: "poll", clock }, listener);
  follower.follow();
  release?.(Serving);
  await clock.advance(1000);
  t.same(log, [`status ${Serving} via check`], "default poll interval 1000 ms");
  t.equal(calls, 2);
  follower.close();
  release?.(NotServing);
  await clock.advance(0);
  const second = new HealthFollower(source, "", { mode: "poll", clock }, listener);
  second.follow();
  second.close();
  fail?.(new Error("aborted"));
  await clock.advance(1000);
  t.same(log, [`status ${Serving} via check`], "nothing after close");
});
