// The proxy beside upstreams that lie or stay silent (issue 24: "the picker and proxy keep serving other
// endpoints through all of them"): every call a real gRPC client makes through it is answered by the good one.
import t from "tap";
import { rogueLineup } from "../client/fixtures/rogue-servers.ts";
import { from, grpcClient, grpcGreet, startProxy, startUpstream, until } from "./fixtures/proxy-harness.ts";

// Following Watch streams, an upstream that says SERVING and keeps its stream open (an answer that never ends,
// a flood of SERVING) cannot be told from a healthy one: those are left to the polling run, where their Check
// never completes. Every other rogue is in both runs.
for (const healthMode of ["watch", "poll"] as const) {
  t.test(`a proxy routes around every rogue upstream (${healthMode})`, async (t) => {
    const good = await startUpstream(t, "good");
    const rogues = (await rogueLineup(t)).filter((r) => healthMode === "poll" || !r.servingOnWatch);
    const { proxy, address } = await startProxy(
      t,
      [good.url, ...rogues.map((r) => `http://${r.server.addr}`)],
      {
        healthMode,
        pollIntervalMs: 200,
        checkTimeoutMs: 500,
        healthClient: { connectTimeoutMs: 500 },
      },
    );
    await until(proxy, () => proxy.picker.routable.includes(good.url), "the good upstream routable");
    const routableRogues = rogues.filter((r) => proxy.picker.routable.includes(`http://${r.server.addr}`));
    t.same(
      routableRogues.map((r) => r.name),
      [],
      "no rogue is routable",
    );
    t.same(proxy.picker.routable, [good.url]);
    const client = grpcClient(t, address);
    const answered: string[] = [];
    for (let i = 0; i < 40; i++) answered.push(from((await grpcGreet(client, `n${i}`)).greeting));
    t.same(new Set(answered), new Set(["good"]), "every call answered by the good upstream");
    t.equal(answered.length, 40);
    t.ok(
      rogues.every((r) => !proxy.picker.routable.includes(`http://${r.server.addr}`)),
      "and still no rogue routable",
    );
  });
}
