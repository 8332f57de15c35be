// The endpoint picker fed by a changing source (what discovery gives it), driven in-process: endpoints
// join and leave, each followed by the Watch of its service key; calls in flight on a removed endpoint
// finish; a source outage keeps the set.
import t from "tap";
import { createEndpointPicker, type EndpointPickerOptions } from "../../src/client/endpoint-picker.ts";
import { ManualEndpointSource } from "../../src/client/endpoint-source.ts";
import type { PickerEvent } from "../../src/client/picker-events.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { FakeClock } from "../../src/testing/fake-clock.ts";
import { ConfigError } from "../../src/wire/config-error.ts";
import { FakeUpstream } from "./fixtures/fake-upstream.ts";

const { NotServing } = ServingStatus;

function setup(initial: string[], options: Partial<EndpointPickerOptions> = {}) {
  const clock = new FakeClock(1_000);
  const upstreams = new Map<string, FakeUpstream>();
  const watched: string[] = [];
  const source = new ManualEndpointSource(initial);
  const upstream = (endpoint: string): FakeUpstream => {
    let up = upstreams.get(endpoint);
    if (up === undefined) {
      up = new FakeUpstream();
      upstreams.set(endpoint, up);
    }
    return up;
  };
  const events: PickerEvent[] = [];
  const picker = createEndpointPicker({
    discovery: source,
    service: "greet.GreetService",
    group: "g1",
    version: "1.0.0",
    clock,
    random: () => 0.5,
    healthSource: (endpoint) => {
      const up = upstream(endpoint);
      return {
        watch: (service, opts) => {
          watched.push(`${endpoint} ${service}`);
          return up.watch(service, opts);
        },
        check: () => up.check(),
        close: () => up.close(),
      };
    },
    ...options,
  });
  picker.on((event) => events.push(event));
  return { clock, picker, source, upstream, events, watched };
}

t.test("endpoints follow the source, each watched under its service key", async (t) => {
  const { clock, picker, source, upstream, events, watched } = setup(["tri://10.0.0.1:20000"]);
  t.teardown(() => picker.close());
  t.equal(picker.service, "g1/greet.GreetService:1.0.0", "the service key is what is watched");
  await picker.ready();
  await clock.advance(0);
  t.same(picker.routable, ["tri://10.0.0.1:20000"]);
  source.add("tri://10.0.0.2:20000", " tri://10.0.0.3:20000 ");
  await clock.advance(0);
  t.same(picker.endpoints, ["tri://10.0.0.1:20000", "tri://10.0.0.2:20000", "tri://10.0.0.3:20000"]);
  t.same(picker.routable.length, 3);
  t.same(
    watched.sort(),
    [
      "tri://10.0.0.1:20000 g1/greet.GreetService:1.0.0",
      "tri://10.0.0.2:20000 g1/greet.GreetService:1.0.0",
      "tri://10.0.0.3:20000 g1/greet.GreetService:1.0.0",
    ],
    "one Watch per endpoint, of its service key",
  );
  t.match(
    events.filter((e) => e.type === "added").map((e) => (e as { endpoint: string }).endpoint),
    ["tri://10.0.0.2:20000", "tri://10.0.0.3:20000"],
  );
  upstream("tri://10.0.0.2:20000").set(NotServing);
  await clock.advance(0);
  t.same(picker.routable, ["tri://10.0.0.1:20000", "tri://10.0.0.3:20000"], "health still decides");

  // Removed: no new calls at once, the health client closed, the call in flight finishes.
  let onThree = picker.pick()!;
  while (onThree.endpoint !== "tri://10.0.0.3:20000") {
    onThree.done("success");
    onThree = picker.pick()!;
  }
  source.remove("tri://10.0.0.3:20000");
  t.same(picker.endpoints, ["tri://10.0.0.1:20000", "tri://10.0.0.2:20000"]);
  t.same(picker.routable, ["tri://10.0.0.1:20000"]);
  t.match(
    events.find((e) => e.type === "removed"),
    { endpoint: "tri://10.0.0.3:20000", outstanding: 1 },
  );
  await clock.advance(0);
  t.ok(upstream("tri://10.0.0.3:20000").closed, "its health client is closed");
  for (let i = 0; i < 5; i++) t.equal(picker.pick()?.endpoint, "tri://10.0.0.1:20000");
  onThree.done("failure"); // finishes after removal: counted for nothing, no crash
  t.equal(events.filter((e) => e.type === "ejected").length, 0);

  // Back again (a restart that re-registers): followed afresh.
  source.add("tri://10.0.0.3:20000");
  await clock.advance(0);
  t.same(picker.routable, ["tri://10.0.0.1:20000", "tri://10.0.0.3:20000"]);
  t.equal(clock.pendingTimers, 0, "no timer left behind by the removed endpoint");
});

t.test("a source outage keeps the last known set; health keeps routing", async (t) => {
  const { clock, picker, source, upstream, events } = setup(["tri://10.0.0.1:20000", "tri://10.0.0.2:20000"]);
  t.teardown(() => picker.close());
  await clock.advance(0);
  source.outage(true, "ZooKeeper session lost");
  t.match(events.at(-1), { type: "source", down: true, reason: "ZooKeeper session lost" });
  t.equal(picker.routable.length, 2, "nothing dropped");
  upstream("tri://10.0.0.1:20000").set(NotServing);
  await clock.advance(0);
  t.same(picker.routable, ["tri://10.0.0.2:20000"], "health goes on deciding during the outage");
  source.outage(false, "session re-established");
  t.match(events.at(-1), { type: "source", down: false });
});

t.test("an empty source at first, ready() and unusable addresses", async (t) => {
  const { clock, picker, source, events } = setup([]);
  await picker.ready(); // nothing to wait for
  t.equal(picker.pick(), undefined, "nothing to pick yet");
  t.notOk(picker.panic);
  source.add("ftp://nowhere", "tri://10.0.0.9:20000");
  t.match(
    events.find((e) => e.type === "invalid"),
    { endpoint: "ftp://nowhere" },
  );
  t.same(picker.endpoints, ["tri://10.0.0.9:20000"], "the bad one skipped, the good one kept");
  let ready = false;
  void picker.ready().then(() => {
    ready = true;
  });
  // Removing the one endpoint ready() waits for ends the wait.
  source.remove("tri://10.0.0.9:20000");
  await clock.advance(0);
  t.ok(ready);
  source.remove("tri://10.0.0.9:20000"); // not there: nothing happens
  await picker.close();
  source.add("tri://10.0.0.5:20000");
  t.same(picker.endpoints, [], "a closed picker no longer follows the source");
});

t.test("an unusable address in the source's first set is skipped too", async (t) => {
  const source = new ManualEndpointSource(["ftp://x", "tri://10.0.0.1:20000"]);
  const picker = createEndpointPicker({ discovery: source, healthSource: () => new FakeUpstream() });
  t.teardown(() => picker.close());
  t.same(picker.endpoints, ["tri://10.0.0.1:20000"]);
  t.equal(picker.service, "", "no service: each server as a whole");
});

t.test("endpoints or discovery, not both nor neither", async (t) => {
  const source = new ManualEndpointSource();
  t.throws(() => createEndpointPicker({}), ConfigError);
  t.throws(() => createEndpointPicker({ endpoints: ["a:1"], discovery: source }), ConfigError);
  const fixed = createEndpointPicker({
    endpoints: ["a:1"],
    service: "s",
    version: "0.0.0",
    healthSource: () => new FakeUpstream(),
  });
  t.equal(fixed.service, "s", "version 0.0.0 is none");
  await fixed.close();
});
