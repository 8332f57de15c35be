// The proxy beside upstreams that lie or stay silent (issue 24: "the picker and proxy keep serving other
// endpoints through all of them"): every call a real gRPC client makes through it is answered by the good one.
import t from "tap";
import { htmlServer, rogue, rogueHttp2, rogueTcp } from "../client/fixtures/rogue-servers.ts";
import { from, grpcClient, grpcGreet, startProxy, startUpstream, until } from "./fixtures/proxy-harness.ts";

t.test("a proxy routes around silent, bombing, GOAWAY-ing, garbage and HTML upstreams", async (t) => {
  const good = await startUpstream(t, "good");
  const rogues = [
    await rogueHttp2(t, rogue.silent),
    await rogueHttp2(t, rogue.gzipBomb),
    await rogueHttp2(t, rogue.hugeLength),
    await rogueHttp2(t, rogue.silent, rogue.goawayAtOnce),
    await rogueTcp(t, (socket) => socket.write(Buffer.alloc(1024, 0xab))),
    await htmlServer(t),
  ];
  const { proxy, address } = await startProxy(t, [good.url, ...rogues.map((r) => `http://${r.addr}`)], {
    healthClient: { connectTimeoutMs: 500 },
  });
  await until(proxy, () => proxy.picker.routable.includes(good.url), "the good upstream routable");
  t.same(proxy.picker.routable, [good.url], "no rogue is routable");
  const client = grpcClient(t, address);
  const answered: string[] = [];
  for (let i = 0; i < 40; i++) answered.push(from((await grpcGreet(client, `n${i}`)).greeting));
  t.same(new Set(answered), new Set(["good"]), "every call answered by the good upstream");
  t.equal(answered.length, 40);
});
