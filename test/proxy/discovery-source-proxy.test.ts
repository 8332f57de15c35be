// A TripleProxy fed by a changing source (what `proxy -registry` does with ZooKeeper), driven in-process:
// upstreams join and leave; a call in flight on a removed upstream finishes; new calls go elsewhere.
import t from "tap";
import { describeEvent, run } from "../../src/cli/commands/proxy.ts";
import { ManualEndpointSource } from "../../src/client/endpoint-source.ts";
import { createTripleProxy } from "../../src/host/triple-proxy.ts";
import { captureIo } from "../fixtures/run-cli.ts";
import { from, grpcClient, grpcGreet, startUpstream, until } from "./fixtures/proxy-harness.ts";

t.test("upstreams follow the source; a removed one finishes its calls", async (t) => {
  const a = await startUpstream(t, "a");
  const b = await startUpstream(t, "b");
  const source = new ManualEndpointSource([a.url]);
  const proxy = createTripleProxy({
    discovery: source,
    service: "greet.GreetService",
    picker: { backoff: { initialMs: 20, maxMs: 200 } },
  });
  const { port } = await proxy.listen(0, "127.0.0.1");
  t.teardown(() => proxy.close({ graceMs: 50 }));
  const client = grpcClient(t, `127.0.0.1:${port}`);
  await until(proxy, () => proxy.picker.routable.length === 1, "a routable");
  t.equal(from((await grpcGreet(client, "x")).greeting), "a");

  source.add(b.url);
  await until(proxy, () => proxy.picker.routable.length === 2, "b routable");
  // A slow call on a, then a leaves the set: the call finishes, every new call goes to b.
  let slow: Promise<{ greeting: string }> | undefined;
  for (let i = 0; i < 4 && slow === undefined; i++) {
    const call = grpcGreet(client, "slow:400");
    await new Promise((resolve) => setTimeout(resolve, 50));
    if (a.seen.some((c) => c.name === "slow:400")) slow = call;
    else await call;
  }
  t.ok(slow, "a slow call is in flight on a");
  source.remove(a.url);
  t.same(proxy.picker.endpoints, [b.url]);
  for (let i = 0; i < 5; i++) t.equal(from((await grpcGreet(client, "y")).greeting), "b");
  t.equal(from((await slow!).greeting), "a", "the call in flight on the removed upstream finished");
  // Back in the set: a new connection to it.
  source.add(a.url);
  await until(proxy, () => proxy.picker.routable.length === 2, "a back");
  const seen = new Set<string>();
  for (let i = 0; i < 6; i++) seen.add(from((await grpcGreet(client, "z")).greeting));
  t.same([...seen].sort(), ["a", "b"]);
  // An outage of the source changes nothing.
  source.outage(true, "test");
  t.equal(proxy.picker.routable.length, 2);
});

t.test("proxy flags with -registry", async (t) => {
  for (const [args, text] of [
    [["-registry", "zookeeper://127.0.0.1:1", "-upstream", "a:1", "-service", "s"], /exclude each other/],
    [["-registry", "zookeeper://127.0.0.1:1"], /-service is required with -registry/],
    [[], /-upstream or -registry is required/],
    [["-registry", "zk://x", "-service", "s"], /invalid value for -registry/],
  ] as const) {
    const captured = captureIo();
    t.equal(await run([...args], captured.io), 1, args.join(" "));
    t.match(captured.err, text);
  }
  const e = "tri://h:1";
  t.same(
    [
      describeEvent({ type: "added", endpoint: e, time: 0 }),
      describeEvent({ type: "removed", endpoint: e, outstanding: 2, time: 0 }),
      describeEvent({ type: "invalid", endpoint: "ftp://x", reason: "bad", time: 0 }),
      describeEvent({ type: "source", down: true, reason: "lost", time: 0 }),
      describeEvent({ type: "source", down: false, reason: "back", time: 0 }),
    ],
    [
      "tri://h:1 discovered",
      "tri://h:1 gone from the registry (2 calls in flight finish)",
      "ftp://x skipped: bad",
      "registry lost (lost): keeping the last known upstreams",
      "registry back (back)",
    ],
  );
});
