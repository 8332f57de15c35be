// The proxy beside upstreams that lie or stay silent (issue 24: "the picker and proxy keep serving other
// endpoints through all of them"): every call a real gRPC client makes through it is answered by the good one.
import t from "tap";
import { maxResponseHeaderListBytes } from "../../src/client/session-pool.ts";
import { createTripleProxy } from "../../src/host/triple-proxy.ts";
import { Code } from "../../src/wire/code.ts";
import { rogueFrames, servingWithHeaders } from "../client/fixtures/raw-frame-rogue.ts";
import { rogueLineup } from "../client/fixtures/rogue-servers.ts";
import { alwaysServing } from "../fixtures/always-serving.ts";
import { grpcHeaders, h2exchange } from "../fixtures/h2-request.ts";
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

// Our upstream sessions advertise a 64 KiB header list, but nghttp2 holds an upstream to it only once the
// upstream has acknowledged our SETTINGS: one that never does could otherwise have 128 KiB of headers
// forwarded. The proxy checks every response itself: reset upstream, UNAVAILABLE to the caller.
t.test(
  "an upstream's headers past the 64 KiB our sessions advertise, SETTINGS never acknowledged",
  async (t) => {
    const call = async (answer: Parameters<typeof rogueFrames>[1]) => {
      const upstream = await rogueFrames(t, answer, { ackSettings: false });
      const proxy = createTripleProxy({
        upstreams: [`http://${upstream.addr}`],
        service: "greet.GreetService",
        picker: { healthSource: alwaysServing, outlier: { consecutiveFailures: 0 } },
      });
      await proxy.picker.ready();
      const { port } = await proxy.listen(0, "127.0.0.1");
      t.teardown(() => proxy.close({ graceMs: 0 }));
      return h2exchange(`http://127.0.0.1:${port}`, grpcHeaders("/greet.GreetService/Greet"), {
        body: [Buffer.from([0, 0, 0, 0, 0])],
      });
    };
    const small = await call(servingWithHeaders(1024));
    t.equal(small.grpcStatus, Code.Ok, "1 KiB of headers: forwarded");
    const head = await call(servingWithHeaders(128 * 1024));
    t.equal(head.grpcStatus, Code.Unavailable, "128 KiB of response headers: UNAVAILABLE");
    t.match(head.grpcMessage, /failed before answering/);
    t.notOk(JSON.stringify(head.headers).includes("x-pad"), "and none of them forwarded");
    const trailers = await call(servingWithHeaders(1024, maxResponseHeaderListBytes + 1));
    t.equal(trailers.grpcStatus, Code.Unavailable, "trailers one byte over: UNAVAILABLE");
    t.match(trailers.grpcMessage, /upstream stream reset \(HTTP\/2 code 11\)/);
  },
);
