import * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import t from "tap";
import { createHealthClient } from "../../src/client/health-client.ts";
import type { RemoteHealthSource } from "../../src/client/health-follower.ts";
import { remoteHealthCheck } from "../../src/client/remote-health-check.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { Code } from "../../src/wire/code.ts";
import { RpcError } from "../../src/wire/rpc-error.ts";

const { Serving, NotServing, ServiceUnknown } = ServingStatus;
const signal = () => new AbortController().signal;

async function eventually(what: () => Promise<unknown>, tries = 200): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await what();
      return;
    } catch (error) {
      if (i >= tries) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

t.test("against a grpc-js server with grpc-health-check, through createHealthClient", async (t) => {
  const health = new HealthImplementation({ "": "SERVING", db: "SERVING" });
  const server = new grpc.Server();
  health.addToServer(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, p) =>
      error ? reject(error) : resolve(p),
    ),
  );
  t.teardown(() => server.forceShutdown());
  const client = createHealthClient(`http://127.0.0.1:${port}`, { timeoutMs: 2000 });
  t.teardown(() => client.close());

  for (const mode of ["watch", "check"] as const) {
    health.setStatus("db", "SERVING");
    const probe = remoteHealthCheck({ client, service: "db", mode });
    t.equal(probe.name, "remote db");
    await t.resolves(async () => probe.run(signal()), `${mode}: SERVING passes`);
    health.setStatus("db", "NOT_SERVING");
    await eventually(async () => {
      try {
        await probe.run(signal());
      } catch (error) {
        if (/remote service "db" is NOT_SERVING/.test(String(error))) return;
      }
      throw new Error("not yet");
    });
    t.pass(`${mode}: NOT_SERVING fails`);
    health.setStatus("db", "SERVING");
    await eventually(async () => probe.run(signal()));
    t.pass(`${mode}: SERVING again passes`);
    await probe.close?.();
  }

  const unknown = remoteHealthCheck({ client, service: "nope", mode: "check" });
  await t.rejects(async () => unknown.run(signal()), /remote check of "nope" failed: .*NOT_FOUND/);
  const whole = remoteHealthCheck({ client });
  t.equal(whole.name, "remote server");
  await eventually(async () => whole.run(signal()));
  await whole.close?.();
});

/** A scripted source: each watch() call plays the next script. */
function fakeSource(
  watches: Array<(signal: AbortSignal) => AsyncIterable<ServingStatus>>,
  checkStatus: () => ServingStatus,
) {
  let watchCalls = 0;
  let checkCalls = 0;
  const source: RemoteHealthSource = {
    async check() {
      checkCalls++;
      return checkStatus();
    },
    watch(_service, options) {
      const script = watches[watchCalls++] ?? watches[watches.length - 1];
      if (script === undefined) throw new Error("no script");
      return script(options?.signal ?? signal());
    },
  };
  return {
    source,
    get watchCalls() {
      return watchCalls;
    },
    get checkCalls() {
      return checkCalls;
    },
  };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

t.test("watch mode: Check until the stream has spoken, reopen after it ends", async (t) => {
  let release: (() => void) | undefined;
  const fake = fakeSource(
    [
      // First stream: SERVICE_UNKNOWN, then ends.
      async function* () {
        yield ServiceUnknown;
        await new Promise<void>((resolve) => {
          release = resolve;
        });
      },
      // Second stream: SERVING until aborted.
      async function* (s) {
        yield Serving;
        await new Promise((resolve) => s.addEventListener("abort", resolve));
      },
    ],
    () => NotServing,
  );
  const probe = remoteHealthCheck({ client: fake.source, service: "x", name: "upstream" });
  t.equal(probe.name, "upstream");
  let pushes = 0;
  const unsubscribe = probe.subscribe?.(() => pushes++);
  await t.rejects(async () => probe.run(signal()), /is NOT_SERVING/, "no streamed status yet: Check answers");
  t.equal(fake.checkCalls, 1);
  await tick();
  await t.rejects(async () => probe.run(signal()), /is SERVICE_UNKNOWN/, "the streamed status");
  t.equal(fake.checkCalls, 1, "no Check while the stream speaks");
  t.equal(pushes, 1, "the streamed change asked for an attempt");
  release?.();
  await tick();
  await t.rejects(async () => probe.run(signal()), /NOT_SERVING/, "stream ended: Check again, and reopen");
  t.equal(fake.watchCalls, 2);
  await tick();
  await t.resolves(async () => probe.run(signal()));
  t.equal(fake.checkCalls, 2);
  t.equal(pushes, 2);
  unsubscribe?.();
  await probe.close?.();
  await t.rejects(async () => probe.run(signal()), /NOT_SERVING/, "closed: no new stream, Check");
  t.equal(fake.watchCalls, 2);
});

t.test("a server without Watch is asked with Check from then on", async (t) => {
  const fake = fakeSource(
    [
      // biome-ignore lint/correctness/useYield: a stream that fails before its first message
      async function* () {
        throw new RpcError(Code.Unimplemented, "no Watch here");
      },
    ],
    () => Serving,
  );
  const probe = remoteHealthCheck({ client: fake.source });
  await probe.run(signal());
  await tick();
  await probe.run(signal());
  await probe.run(signal());
  t.equal(fake.watchCalls, 1);
  t.equal(fake.checkCalls, 3);
  // Other stream errors only cause a reopen.
  const flaky = fakeSource(
    [
      // biome-ignore lint/correctness/useYield: a stream that fails before its first message
      async function* () {
        throw new RpcError(Code.Unavailable, "reset");
      },
    ],
    () => Serving,
  );
  const again = remoteHealthCheck({ client: flaky.source });
  await again.run(signal());
  await tick();
  await again.run(signal());
  t.equal(flaky.watchCalls, 2);
  await again.close?.();
  const failing: RemoteHealthSource = {
    check: () => Promise.reject("plain"),
    watch: () => ({ [Symbol.asyncIterator]: () => ({ next: () => new Promise(() => {}) }) }),
  };
  await t.rejects(
    async () => remoteHealthCheck({ client: failing, mode: "check" }).run(signal()),
    /failed: plain/,
  );
});
