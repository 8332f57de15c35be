import t from "tap";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { HealthRegistry, type HealthRegistryMode } from "../../src/health/registry.ts";

t.test("onModeChange: drain, resume, shutdown — also when no status changes with them", async (t) => {
  const registry = new HealthRegistry();
  registry.override("", ServingStatus.NotServing, "down already");
  const seen: Array<[HealthRegistryMode, string]> = [];
  const changes: string[] = [];
  registry.onChange((event) => changes.push(event.reason));
  const stop = registry.onModeChange((mode, reason) => seen.push([mode, reason]));
  registry.drain("d");
  registry.drain("again"); // no-op: already drained
  registry.resume("r");
  registry.drain("d2");
  registry.shutdown("s");
  registry.resume("too late"); // no-op after shutdown
  t.same(seen, [
    ["draining", "d"],
    ["serving", "r"],
    ["draining", "d2"],
    ["shutdown", "s"],
  ]);
  t.same(changes, [], 'none of them changed a status: "" was NOT_SERVING throughout');
  stop();
  registry.shutdown("twice");
  t.equal(seen.length, 4, "unsubscribed");
});

t.test("onModeChange: told after the status changes it caused", async (t) => {
  const registry = new HealthRegistry();
  const order: string[] = [];
  registry.onChange((event) => order.push(`change ${event.service}`));
  registry.onModeChange((mode) => order.push(`mode ${mode}`));
  registry.set("a", ServingStatus.Serving);
  registry.drain();
  t.same(order, ["change a", "change ", "change a", "mode draining"]);
});

t.test("a mode listener that throws is reported; the others still run", async (t) => {
  const errors: unknown[] = [];
  const registry = new HealthRegistry({
    onListenerError: (error, event) => {
      errors.push([error, event.service, event.reason]);
      throw new Error("the reporter throws too");
    },
  });
  const boom = new Error("boom");
  let told = 0;
  registry.onModeChange(() => {
    throw boom;
  });
  registry.onModeChange(() => told++);
  registry.drain("why");
  t.equal(told, 1);
  t.same(errors, [[boom, "", "why"]]);
});

t.test("snapshotOf: one service's layers, undefined when unregistered", async (t) => {
  const registry = new HealthRegistry({ now: () => 5 });
  registry.set("a", ServingStatus.Serving, "up");
  registry.markFailing("a", "ping", "refused");
  t.same(registry.snapshotOf("a"), {
    service: "a",
    status: ServingStatus.NotServing,
    reason: "refused",
    since: 5,
    base: ServingStatus.Serving,
    override: undefined,
    failing: [{ source: "ping", reason: "refused" }],
  });
  t.equal(registry.snapshotOf("nope"), undefined);
  t.same(registry.snapshot()[1], registry.snapshotOf("a"));
});
