import t from "tap";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { addDependency } from "../../src/health/dependencies.ts";
import { type HealthChangeEvent, HealthRegistry } from "../../src/health/registry.ts";
import { ConfigError } from "../../src/wire/config-error.ts";

const { Serving, NotServing, Unknown } = ServingStatus;

t.test("A is NOT_SERVING while B is not SERVING", async (t) => {
  const registry = new HealthRegistry();
  registry.set("a", Serving);
  registry.set("b", Serving);
  const remove = addDependency(registry, "a", "b");
  t.equal(registry.get("a"), Serving);
  registry.set("b", NotServing, "db down");
  t.equal(registry.get("a"), NotServing);
  t.same(registry.snapshot().find((s) => s.service === "a")?.failing, [
    { source: "dependency:b", reason: "dependency 'b' is NOT_SERVING (db down)" },
  ]);
  registry.set("b", Unknown);
  t.equal(registry.get("a"), NotServing, "UNKNOWN is not SERVING");
  registry.clear("b");
  t.equal(registry.get("a"), NotServing, "nor is an unregistered service");
  t.match(registry.snapshot().find((s) => s.service === "a")?.failing, [{ reason: /not registered/ }]);
  registry.set("b", Serving);
  t.equal(registry.get("a"), Serving);
  registry.set("b", NotServing);
  remove();
  remove(); // harmless
  t.equal(registry.get("a"), Serving, "removing the dependency lifts its hold");
  registry.set("b", NotServing, "again");
  t.equal(registry.get("a"), Serving, "no longer followed");
});

t.test("a dependency on a service not yet registered holds until it is SERVING", async (t) => {
  const registry = new HealthRegistry();
  addDependency(registry, "api", ["db", "cache", "db"]);
  t.equal(registry.get("api"), NotServing, "registered, held down");
  registry.set("db", Serving);
  t.equal(registry.get("api"), NotServing, "cache still missing");
  registry.set("cache", Serving);
  t.equal(registry.get("api"), Serving);
});

t.test("chains settle within the call that changed the root, in order", async (t) => {
  const registry = new HealthRegistry();
  for (const s of ["a", "b", "c"]) registry.set(s, Serving);
  addDependency(registry, "a", "b");
  addDependency(registry, "b", "c");
  addDependency(registry, "", ["a"]);
  const events: HealthChangeEvent[] = [];
  registry.onChange((e) => events.push(e));
  registry.set("c", NotServing, "disk full");
  t.same(
    events.map((e) => [e.service, e.status]),
    [
      ["c", NotServing],
      ["b", NotServing],
      ["a", NotServing],
      ["", NotServing],
    ],
  );
  t.match(
    events[3]?.reason,
    /dependency 'a' is NOT_SERVING \(dependency 'b' is NOT_SERVING \(dependency 'c'/,
  );
  events.length = 0;
  registry.set("c", Serving);
  t.same(
    events.map((e) => [e.service, e.status]),
    [
      ["c", Serving],
      ["b", Serving],
      ["a", Serving],
      ["", Serving],
    ],
  );
});

t.test("a chain recovers after drain and resume", async (t) => {
  const registry = new HealthRegistry();
  registry.set("a", Serving);
  registry.set("b", Serving);
  addDependency(registry, "a", "b");
  registry.drain();
  t.equal(registry.get("a"), NotServing);
  registry.resume();
  t.equal(registry.get("a"), Serving);
  t.equal(registry.get("b"), Serving);
});

t.test("cycles are refused", async (t) => {
  const registry = new HealthRegistry();
  t.throws(() => addDependency(registry, "a", "a"), /cycle/);
  addDependency(registry, "a", "b");
  const bc = addDependency(registry, "b", "c");
  t.throws(() => addDependency(registry, "c", "a"), ConfigError);
  t.throws(() => addDependency(registry, "b", "a"), ConfigError);
  bc();
  addDependency(registry, "c", "a"); // no path c ← a any more
  t.pass("the edge is free again once removed");
  // Other registries keep their own graphs.
  addDependency(new HealthRegistry(), "b", "a");
});

t.test("the same pair added twice holds until both are removed", async (t) => {
  const registry = new HealthRegistry();
  registry.set("b", NotServing);
  const one = addDependency(registry, "a", "b");
  const two = addDependency(registry, "a", "b");
  one();
  t.equal(registry.get("a"), NotServing);
  two();
  t.equal(registry.get("a"), Serving);
  registry.clear("a");
  addDependency(registry, "a", "b")();
  t.equal(registry.get("a"), Serving);
  const three = addDependency(registry, "x", "b");
  registry.clear("x");
  three();
  t.notOk(registry.has("x"), "removing does not register a cleared service again");
});
