import t from "tap";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { type HealthChangeEvent, HealthRegistry } from "../../src/health/registry.ts";
import { Code } from "../../src/wire/code.ts";
import { ConfigError } from "../../src/wire/config-error.ts";

const { Serving, NotServing, ServiceUnknown, Unknown } = ServingStatus;

function clockedRegistry(options: { maxWatchers?: number } = {}) {
  let time = 1000;
  const registry = new HealthRegistry({ now: () => time, ...options });
  const events: HealthChangeEvent[] = [];
  registry.onChange((event) => events.push(event));
  return {
    registry,
    events,
    tick(ms = 1) {
      time += ms;
    },
  };
}

const compact = (events: HealthChangeEvent[]) =>
  events.map((e) => [e.service, e.previous, e.status, e.reason]);

t.test("the overall service is registered SERVING", async (t) => {
  const registry = new HealthRegistry();
  t.equal(registry.get(""), Serving);
  t.ok(registry.has(""));
  t.equal(registry.size, 1);
  t.same([...registry.list()], [["", Serving]]);
});

t.test("set, get and clear emit events with old, new, reason and time", async (t) => {
  const { registry, events, tick } = clockedRegistry();
  registry.set("a", Serving, "boot");
  tick(5);
  registry.set("a", Serving, "again"); // no effective change: no event
  registry.set("a", NotServing, "db down");
  tick(5);
  registry.clear("a", "gone");
  registry.clear("a", "gone twice"); // unknown: nothing
  registry.clear("never");
  t.same(events, [
    { service: "a", previous: undefined, status: Serving, reason: "boot", source: "set", time: 1000 },
    { service: "a", previous: Serving, status: NotServing, reason: "db down", source: "set", time: 1005 },
    { service: "a", previous: NotServing, status: undefined, reason: "gone", source: "clear", time: 1010 },
  ]);
  t.equal(registry.get("a"), undefined);
  t.notOk(registry.has("a"));
  registry.set("b", Unknown);
  t.equal(registry.get("b"), Unknown);
  t.equal(events.at(-1)?.reason, "set");
});

t.test(
  "each event names the layer that made it: a check's source, override, drain, resume, shutdown",
  async (t) => {
    const { registry, events } = clockedRegistry();
    registry.markFailing("db", "tcp-probe", "tcp-probe: refused");
    registry.markPassing("db", "tcp-probe", "tcp-probe: passing again");
    registry.override("db", NotServing, "operator");
    registry.override("db", undefined, "operator done");
    registry.drain("draining by hand");
    registry.resume("back");
    registry.shutdown();
    t.same(
      events.map((e) => [e.service, e.source, e.reason]),
      [
        ["db", "tcp-probe", "tcp-probe: refused"],
        ["db", "tcp-probe", "tcp-probe: passing again"],
        ["db", "override", "operator"],
        ["db", "override", "operator done"],
        ["", "drain", "draining by hand"],
        ["db", "drain", "draining by hand"],
        ["", "resume", "back"],
        ["db", "resume", "back"],
        ["", "shutdown", "shutdown"],
        ["db", "shutdown", "shutdown"],
      ],
    );
  },
);

t.test("statuses that only Watch may send are refused", async (t) => {
  const registry = new HealthRegistry();
  t.throws(() => registry.set("a", ServiceUnknown), ConfigError);
  t.throws(() => registry.set("a", 7 as ServingStatus), ConfigError);
  t.throws(() => registry.override("a", ServiceUnknown), ConfigError);
  t.notOk(registry.has("a"));
});

t.test("layers: drain > override > failing checks > set", async (t) => {
  const { registry, events } = clockedRegistry();
  registry.set("a", Serving);
  registry.markFailing("a", "db", "db: refused");
  t.equal(registry.get("a"), NotServing);
  registry.markFailing("a", "cache", "cache: timeout");
  registry.markPassing("a", "db");
  t.equal(registry.get("a"), NotServing, "still one failing source");
  registry.override("a", Serving, "operator says so");
  t.equal(registry.get("a"), Serving, "override beats checks");
  registry.drain("deploy");
  t.equal(registry.get("a"), NotServing, "drain beats override");
  registry.resume();
  t.equal(registry.get("a"), Serving);
  registry.override("a", undefined, "operator done");
  t.equal(registry.get("a"), NotServing, "back to the failing check");
  registry.markPassing("a", "cache", "cache ok");
  t.equal(registry.get("a"), Serving);
  registry.override("nobody", undefined); // clearing on an unknown service registers nothing
  t.notOk(registry.has("nobody"));
  const snap = registry.snapshot().find((s) => s.service === "a");
  t.same(snap, {
    service: "a",
    status: Serving,
    reason: "cache ok",
    since: 1000,
    base: Serving,
    override: undefined,
    failing: [],
  });
  t.same(
    compact(events).filter((e) => e[0] === "a"),
    [
      ["a", undefined, Serving, "set"],
      ["a", Serving, NotServing, "db: refused"],
      // Same status, new why: the reason never goes stale while checks hold the service down.
      ["a", NotServing, NotServing, "db: refused; cache: timeout"],
      ["a", NotServing, NotServing, "cache: timeout"],
      ["a", NotServing, Serving, "operator says so"],
      ["a", Serving, NotServing, "deploy"],
      ["a", NotServing, Serving, "resume"],
      ["a", Serving, NotServing, "operator done"],
      ["a", NotServing, Serving, "cache ok"],
    ],
  );
});

t.test('initialServerStatus: "" may start NOT_SERVING (nothing is SERVING until set)', async (t) => {
  t.equal(new HealthRegistry().get(""), Serving, "SERVING by default, as grpc-go");
  const registry = new HealthRegistry({ initialServerStatus: NotServing });
  t.equal(registry.get(""), NotServing);
  registry.set("", Serving);
  t.equal(registry.get(""), Serving);
});

t.test("the reason follows the checks holding a service down, not an override", async (t) => {
  const { registry, events } = clockedRegistry();
  registry.set("b", NotServing, "app says no");
  registry.markFailing("b", "db", "db: refused");
  t.equal(registry.snapshotOf("b")?.reason, "db: refused", "checks now hold it down: their reason");
  registry.override("b", NotServing, "operator");
  registry.markFailing("b", "db", "db: timeout");
  t.equal(registry.snapshotOf("b")?.reason, "db: refused", "the override decides: its change's reason stays");
  t.equal(compact(events).filter((e) => e[0] === "b").length, 2);
});

t.test("a check or override registers an unknown service, SERVING by default", async (t) => {
  const registry = new HealthRegistry();
  registry.markPassing("x", "probe");
  t.equal(registry.get("x"), Serving);
  registry.markFailing("y", "probe", "down");
  t.equal(registry.get("y"), NotServing);
  t.same(registry.snapshot().find((s) => s.service === "y")?.failing, [{ source: "probe", reason: "down" }]);
  registry.override("z", NotServing);
  t.equal(registry.get("z"), NotServing);
  t.equal(registry.snapshot().find((s) => s.service === "z")?.base, undefined);
});

t.test("drain is sticky until resume, whatever sets and checks say", async (t) => {
  const { registry, events } = clockedRegistry();
  registry.set("a", Serving);
  registry.set("b", NotServing);
  events.length = 0;
  registry.drain("SIGTERM");
  registry.drain("twice"); // no-op
  t.ok(registry.draining);
  t.same(compact(events), [
    ["", Serving, NotServing, "SIGTERM"],
    ["a", Serving, NotServing, "SIGTERM"],
  ]);
  events.length = 0;
  registry.set("a", Serving, "app says fine");
  registry.set("b", Serving, "b recovered");
  registry.markPassing("a", "check");
  registry.override("a", Serving);
  t.same(events, [], "no effective change while drained");
  registry.set("c", Serving, "late registration");
  t.same(compact(events), [["c", undefined, NotServing, "late registration"]]);
  t.same([...registry.list().values()], [NotServing, NotServing, NotServing, NotServing]);
  events.length = 0;
  registry.resume("deploy aborted");
  registry.resume("twice"); // no-op
  t.notOk(registry.draining);
  t.same(compact(events), [
    ["", NotServing, Serving, "deploy aborted"],
    ["a", NotServing, Serving, "deploy aborted"],
    ["b", NotServing, Serving, "deploy aborted"],
    ["c", NotServing, Serving, "deploy aborted"],
  ]);
});

t.test("shutdown is permanent", async (t) => {
  const { registry, events } = clockedRegistry();
  registry.set("a", Serving);
  registry.drain();
  registry.shutdown("closing");
  t.ok(registry.isShutdown);
  t.ok(registry.draining);
  registry.resume();
  registry.drain();
  registry.shutdown("again");
  t.equal(registry.get("a"), NotServing);
  t.equal(registry.get(""), NotServing);
  t.notOk(events.some((e) => e.reason === "again" || e.reason === "resume"));
  const fresh = new HealthRegistry();
  fresh.shutdown();
  t.equal(fresh.get(""), NotServing);
  t.ok(fresh.isShutdown);
});

t.test("a throwing listener does not stop the others", async (t) => {
  const errors: unknown[] = [];
  const registry = new HealthRegistry({
    onListenerError: (error) => {
      errors.push(error);
      throw new Error("the reporter throws too");
    },
  });
  const seen: string[] = [];
  registry.onChange(() => {
    throw new Error("boom");
  });
  const off = registry.onChange((e) => seen.push(e.service));
  registry.set("a", NotServing);
  off();
  registry.set("b", NotServing);
  t.same(seen, ["a"]);
  t.equal(errors.length, 2);
  t.match(errors[0], { message: "boom" });
});

t.test("by default a throwing listener becomes a process warning", async (t) => {
  const registry = new HealthRegistry();
  registry.onChange(() => {
    throw new Error("listener bug");
  });
  registry.onChange(() => {
    throw "a string";
  });
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on("warning", onWarning);
  registry.set("svc", NotServing);
  await new Promise((resolve) => setImmediate(resolve));
  process.off("warning", onWarning);
  t.equal(warnings.length, 2);
  t.match(warnings[0], { name: "HealthRegistryWarning", message: /listener bug/ });
  t.match(warnings[1], { message: /a string/ });
});

t.test("changes made by a listener are delivered after the current event, same order to all", async (t) => {
  const registry = new HealthRegistry();
  const first: string[] = [];
  const second: string[] = [];
  // A dependency: b follows a.
  registry.onChange((e) => {
    first.push(`${e.service}:${e.status}`);
    if (e.service === "a") registry.set("b", e.status ?? NotServing, "follows a");
  });
  registry.onChange((e) => second.push(`${e.service}:${e.status}`));
  registry.set("a", Serving);
  registry.set("a", NotServing);
  t.same(first, ["a:1", "b:1", "a:2", "b:2"]);
  t.same(second, first);
});

async function collect(iterator: AsyncIterator<ServingStatus>, count: number): Promise<ServingStatus[]> {
  const values: ServingStatus[] = [];
  while (values.length < count) {
    const result = await iterator.next();
    if (result.done) break;
    values.push(result.value);
  }
  return values;
}

t.test("watch yields the current status at once, then each change", async (t) => {
  const registry = new HealthRegistry();
  const controller = new AbortController();
  const watch = registry.watch("a", controller.signal);
  t.equal(registry.watcherCount, 1);
  t.same(await collect(watch, 1), [ServiceUnknown], "unknown, and keeps waiting");
  const pending = collect(watch, 4);
  registry.set("a", Serving);
  registry.set("b", NotServing); // another service: not seen
  await Promise.resolve();
  registry.set("a", NotServing);
  await Promise.resolve();
  registry.clear("a");
  await Promise.resolve();
  registry.set("a", Serving);
  t.same(await pending, [Serving, NotServing, ServiceUnknown, Serving]);
  controller.abort();
  t.same(await watch.next(), { value: undefined, done: true });
  t.equal(registry.watcherCount, 0);
});

t.test("a consumer that keeps up sees every transition in order; the last is the current", async (t) => {
  const registry = new HealthRegistry();
  registry.set("a", Serving);
  const controller = new AbortController();
  const seen: ServingStatus[] = [];
  const consumer = (async () => {
    for await (const status of registry.watch("a", controller.signal)) seen.push(status);
  })();
  const expected: ServingStatus[] = [Serving];
  for (let i = 0; i < 50; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    const next = i % 2 === 0 ? NotServing : Serving;
    registry.set("a", next);
    expected.push(next);
  }
  await new Promise((resolve) => setImmediate(resolve));
  controller.abort();
  await consumer;
  t.same(seen, expected);
  t.equal(registry.watcherCount, 0);
});

t.test("a slow consumer gets the latest value, never a queue", async (t) => {
  const registry = new HealthRegistry();
  registry.set("a", Serving);
  const controller = new AbortController();
  const watch = registry.watch("a", controller.signal);
  t.same(await collect(watch, 1), [Serving]);
  for (let i = 0; i < 100_000; i++) registry.set("a", i % 2 === 0 ? NotServing : Serving);
  // 100,000 flips ending on SERVING, which the consumer already had: nothing new to say.
  registry.set("a", NotServing);
  t.same(await collect(watch, 1), [NotServing]);
  registry.set("a", Serving);
  registry.set("a", NotServing); // back to what was delivered before the consumer read
  let settled = false;
  const next = watch.next().then((r) => {
    settled = true;
    return r;
  });
  await new Promise((resolve) => setImmediate(resolve));
  t.notOk(settled, "no change since the last delivered value");
  registry.set("a", Serving);
  t.same(await next, { value: Serving, done: false });
  await watch.return?.();
  t.equal(registry.watcherCount, 0);
});

t.test("return() and abort free the slot at once and end pending reads", async (t) => {
  const registry = new HealthRegistry();
  const controller = new AbortController();
  const watch = registry.watch("a", controller.signal);
  await watch.next();
  const a = watch.next();
  const b = watch.next(); // two reads at once are queued in order
  registry.set("a", Serving);
  t.same(await a, { value: Serving, done: false });
  t.equal(registry.watcherCount, 1);
  controller.abort();
  t.equal(registry.watcherCount, 0, "freed synchronously on abort");
  t.same(await b, { value: undefined, done: true });
  t.same(await watch.return?.(), { value: undefined, done: true }, "return after abort is harmless");
  registry.set("a", NotServing); // no watcher to notify any more

  const other = registry.watch("a", new AbortController().signal);
  t.equal(registry.watcherCount, 1);
  const waiting = collect(other, 2);
  await other.return?.();
  t.equal(registry.watcherCount, 0, "freed synchronously on return()");
  t.same(await waiting, [NotServing]);
});

t.test("an aborted signal gives an ended iterator without a slot", async (t) => {
  const registry = new HealthRegistry({ maxWatchers: 0 });
  const watch = registry.watch("a", AbortSignal.abort());
  t.equal(registry.watcherCount, 0);
  t.same(await watch.next(), { value: undefined, done: true });
  t.equal(watch[Symbol.asyncIterator](), watch);
});

t.test("maxWatchers refuses the extra watcher with RESOURCE_EXHAUSTED", async (t) => {
  const registry = new HealthRegistry({ maxWatchers: 2 });
  const controller = new AbortController();
  registry.watch("a", controller.signal);
  registry.watch("b", controller.signal);
  t.throws(() => registry.watch("a", controller.signal), { code: Code.ResourceExhausted, name: "RpcError" });
  controller.abort();
  t.equal(registry.watcherCount, 0);
  const again = registry.watch("a", new AbortController().signal);
  t.equal(registry.watcherCount, 1);
  await again.return?.();
});

t.test("a watcher opened while events are being dispatched does not see stale ones", async (t) => {
  const registry = new HealthRegistry();
  const controller = new AbortController();
  let watch: AsyncIterableIterator<ServingStatus> | undefined;
  registry.onChange((e) => {
    if (e.service === "a" && e.status === Serving) {
      registry.set("a", NotServing, "flip inside a listener");
      watch = registry.watch("a", controller.signal);
    }
  });
  registry.set("a", Serving);
  t.ok(watch);
  const w = watch as AsyncIterableIterator<ServingStatus>;
  t.same(await collect(w, 1), [NotServing]);
  let settled = false;
  void w.next().then(() => {
    settled = true;
  });
  await new Promise((resolve) => setImmediate(resolve));
  t.notOk(settled, "the queued NOT_SERVING event was already reflected");
  controller.abort();
});

t.test("drain and shutdown reach watchers", async (t) => {
  const registry = new HealthRegistry();
  registry.set("a", Serving);
  const controller = new AbortController();
  const seen: ServingStatus[] = [];
  const consumer = (async () => {
    for await (const status of registry.watch("a", controller.signal)) seen.push(status);
  })();
  await new Promise((resolve) => setImmediate(resolve));
  registry.drain();
  await new Promise((resolve) => setImmediate(resolve));
  registry.resume();
  await new Promise((resolve) => setImmediate(resolve));
  registry.shutdown();
  await new Promise((resolve) => setImmediate(resolve));
  controller.abort();
  await consumer;
  t.same(seen, [Serving, NotServing, Serving, NotServing]);
});

t.test("10,000 watchers opened and dropped every way leave none behind", async (t) => {
  const registry = new HealthRegistry();
  registry.set("a", Serving);
  const open: Array<{ watch: AsyncIterableIterator<ServingStatus>; controller: AbortController }> = [];
  for (let i = 0; i < 10_000; i++) {
    const controller = new AbortController();
    open.push({ watch: registry.watch(i % 3 === 0 ? "a" : `s${i % 50}`, controller.signal), controller });
  }
  t.equal(registry.watcherCount, 10_000);
  t.throws(() => registry.watch("a", new AbortController().signal), { code: Code.ResourceExhausted });
  registry.set("a", NotServing); // a fan-out to the 3,334 watchers of "a"
  await Promise.all(
    open.map(async ({ watch, controller }, i) => {
      switch (i % 4) {
        case 0:
          controller.abort();
          break;
        case 1:
          await watch.return?.();
          break;
        case 2:
          for await (const _ of watch) break; // break calls return()
          break;
        default: {
          const pending = watch.next().then(() => watch.next());
          controller.abort();
          await pending;
        }
      }
    }),
  );
  t.equal(registry.watcherCount, 0);
});

t.test("clearing an override unregisters a service only the override registered", async (t) => {
  const { registry, events } = clockedRegistry();
  registry.override("typo.X", NotServing, "oops");
  registry.override("typo.X", Serving, "still oops");
  registry.override("typo.X", undefined, "taken back");
  t.notOk(registry.has("typo.X"), "gone");
  t.same(
    compact(events).filter((e) => e[0] === "typo.X"),
    [
      ["typo.X", undefined, NotServing, "oops"],
      ["typo.X", NotServing, Serving, "still oops"],
      ["typo.X", Serving, undefined, "taken back"],
    ],
  );
  for (const register of [
    (name: string) => registry.set(name, Serving),
    (name: string) => registry.markPassing(name, "probe"),
    (name: string) => registry.markFailing(name, "probe", "down"),
  ]) {
    registry.override("owned", NotServing);
    register("owned");
    registry.override("owned", undefined);
    t.ok(registry.has("owned"), "registered by something else too: kept");
    registry.clear("owned");
  }
});

t.test("subscribe: the current status from inside the call, then each change, synchronously", async (t) => {
  const registry = new HealthRegistry({ maxWatchers: 2 });
  const seen: ServingStatus[] = [];
  const listener = { onStatus: (status: ServingStatus) => seen.push(status) };
  registry.subscribe("a", listener);
  t.same(seen, [ServiceUnknown], "heard before subscribe returns");
  t.equal(registry.watcherCount, 1);
  registry.subscribe("a", listener);
  t.equal(registry.watcherCount, 1, "the same listener again does nothing");
  t.same(seen, [ServiceUnknown]);
  registry.set("a", Serving);
  registry.set("b", NotServing);
  registry.clear("a");
  t.same(seen, [ServiceUnknown, Serving, ServiceUnknown], "its service only, in order");
  const other = { onStatus() {} };
  registry.subscribe("b", other);
  t.throws(() => registry.subscribe("c", { onStatus() {} }), { code: Code.ResourceExhausted });
  registry.unsubscribe("a", listener);
  registry.unsubscribe("a", listener);
  t.equal(registry.watcherCount, 1, "unsubscribe frees the slot once");
  registry.set("a", NotServing);
  t.equal(seen.length, 3, "nothing after unsubscribe");
  registry.unsubscribe("b", other);
  t.equal(registry.watcherCount, 0);
});

t.test(
  "subscribe: a listener that throws at once is not subscribed; later throws are reported",
  async (t) => {
    const errors: unknown[] = [];
    const registry = new HealthRegistry({ onListenerError: (error) => errors.push(error) });
    t.throws(
      () =>
        registry.subscribe("a", {
          onStatus() {
            throw new Error("first");
          },
        }),
      { message: "first" },
    );
    t.equal(registry.watcherCount, 0);
    let calls = 0;
    const seen: ServingStatus[] = [];
    registry.subscribe("a", {
      onStatus() {
        if (calls++ > 0) throw new Error("later");
      },
    });
    registry.subscribe("a", { onStatus: (status) => seen.push(status) });
    registry.set("a", Serving);
    t.same(
      errors.map((e) => (e as Error).message),
      ["later"],
    );
    t.same(seen, [ServiceUnknown, Serving], "the other listener still heard it");
  },
);

t.test("subscribe from inside a change: queued events it already reflects are not heard again", async (t) => {
  const registry = new HealthRegistry();
  const seen: ServingStatus[] = [];
  let once = true;
  registry.onChange((event) => {
    if (once && event.service === "a" && event.status === Serving) {
      once = false;
      registry.set("a", NotServing, "flip inside a listener");
      registry.subscribe("a", { onStatus: (status) => seen.push(status) });
    }
  });
  registry.set("a", Serving);
  t.same(seen, [NotServing], "the current status once, not the queued NOT_SERVING again");
  registry.set("a", Serving);
  t.same(seen, [NotServing, Serving]);
});

t.test(
  "once no check fails, a check's error gives way to the reason of the layer holding the service",
  async (t) => {
    const registry = new HealthRegistry();
    registry.set("svc", NotServing, "deploy in progress");
    registry.markFailing("svc", "db", "db: connect ECONNREFUSED");
    t.equal(
      registry.snapshotOf("svc")?.reason,
      "db: connect ECONNREFUSED",
      "the check holds it too: its error",
    );
    registry.markPassing("svc", "db");
    t.equal(registry.get("svc"), NotServing);
    t.equal(registry.snapshotOf("svc")?.reason, "deploy in progress", "set() holds it alone: its reason");

    registry.markFailing("", "db", "db: timeout after 1000 ms");
    registry.drain("rolling restart");
    registry.markPassing("", "db");
    t.equal(registry.snapshotOf("")?.reason, "rolling restart", "drained: the drain's reason");
    registry.resume();

    registry.markFailing("svc", "db", "db: down");
    registry.override("svc", NotServing, "operator: hold");
    registry.markPassing("svc", "db");
    t.equal(registry.snapshotOf("svc")?.reason, "operator: hold", "an override holding it: its reason");
  },
);
