import t from "tap";
import { EventType } from "../../../src/discovery/zookeeper/op-codes.ts";
import {
  splitSetWatches,
  type WatchCallback,
  WatchRegistry,
  type ZooKeeperWatchEvent,
} from "../../../src/discovery/zookeeper/watch-registry.ts";

function recorder(): { callback: WatchCallback; events: ZooKeeperWatchEvent[] } {
  const events: ZooKeeperWatchEvent[] = [];
  return { callback: (event) => events.push(event), events };
}

t.test("each event type fires the kinds of watches ZooKeeper fires for it, once", async (t) => {
  const registry = new WatchRegistry();
  const data = recorder();
  const exist = recorder();
  const child = recorder();
  registry.add("data", "/a", data.callback);
  registry.add("data", "/a", data.callback);
  registry.add("exist", "/a", exist.callback);
  registry.add("child", "/a", child.callback);
  t.equal(registry.size, 3, "the same callback twice on one path is one watch");

  const changed = registry.fire(EventType.nodeDataChanged, "/a")!;
  t.same(changed.event, { type: "changed", path: "/a" });
  t.equal(changed.callbacks.length, 2, "data and exist watches");
  t.equal(registry.fire(EventType.nodeDataChanged, "/a")!.callbacks.length, 0, "one-shot");

  const children = registry.fire(EventType.nodeChildrenChanged, "/a")!;
  t.same(children.event, { type: "children", path: "/a" });
  t.equal(children.callbacks.length, 1);
  t.equal(registry.size, 0);

  registry.add("exist", "/b", exist.callback);
  t.same(registry.fire(EventType.nodeCreated, "/b")!.event, { type: "created", path: "/b" });
  registry.add("data", "/c", data.callback);
  registry.add("child", "/c", child.callback);
  const deleted = registry.fire(EventType.nodeDeleted, "/c")!;
  t.same(deleted.event, { type: "deleted", path: "/c" });
  t.equal(deleted.callbacks.length, 2, "data and child watches both fire on deletion");
  t.equal(registry.fire(EventType.none, "/c"), undefined, "a state event fires no node watch");
  t.equal(registry.fire(5, "/c"), undefined, "a removed-watch notice fires nothing");
});

t.test("the paths to re-arm, and clear()", async (t) => {
  const registry = new WatchRegistry();
  const { callback } = recorder();
  registry.add("data", "/d", callback);
  registry.add("exist", "/e", callback);
  registry.add("child", "/c", callback);
  t.same(registry.toSetWatches(7n), {
    relativeZxid: 7n,
    dataWatches: ["/d"],
    existWatches: ["/e"],
    childWatches: ["/c"],
  });
  registry.clear();
  t.equal(registry.size, 0);
  t.same(registry.toSetWatches(7n).dataWatches, []);
});

t.test("SetWatches is split into bounded packets", async (t) => {
  const paths = Array.from({ length: 100 }, (_, i) => `/p${String(i).padStart(3, "0")}`);
  const parts = splitSetWatches(
    { relativeZxid: 1n, dataWatches: paths, existWatches: ["/x"], childWatches: ["/y"] },
    80,
  );
  t.ok(parts.length > 1, "more than one packet");
  for (const part of parts) {
    const bytes = [...part.dataWatches, ...part.existWatches, ...part.childWatches].reduce(
      (n, p) => n + 4 + p.length,
      0,
    );
    t.ok(bytes <= 80, "each within the bound");
    t.equal(part.relativeZxid, 1n);
  }
  t.same(
    parts.flatMap((p) => p.dataWatches),
    paths,
    "every path once, in order",
  );
  t.same(
    parts.flatMap((p) => p.existWatches),
    ["/x"],
  );
  t.same(
    parts.flatMap((p) => p.childWatches),
    ["/y"],
  );
  t.same(splitSetWatches({ relativeZxid: 1n, dataWatches: [], existWatches: [], childWatches: [] }), []);
});
