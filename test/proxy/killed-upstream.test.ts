// Upstreams in their own processes, killed with SIGKILL: no NOT_SERVING, no GOAWAY, just a dead port.
import t from "tap";
import { createCallClient } from "../../src/client/call-client.ts";
import {
  count,
  from,
  grpcClient,
  grpcGreet,
  spawnUpstream,
  startProxy,
  startUpstream,
  until,
} from "./fixtures/proxy-harness.ts";

t.test("an upstream killed without a word: its calls fail over, then it is ejected", async (t) => {
  const ups = await Promise.all(["a", "b"].map((id) => startUpstream(t, id)));
  const killed = await spawnUpstream(t, "k");
  const killedUrl = `http://127.0.0.1:${killed.port}`;
  const { proxy, address, events } = await startProxy(t, [...ups.map((u) => u.url), killedUrl], {
    // A long grace keeps the dead upstream "SERVING": only call failures can tell.
    lostStreamGraceMs: 60_000,
    backoff: { initialMs: 60_000, maxMs: 60_000 },
    outlier: { consecutiveFailures: 2, baseEjectionMs: 60_000 },
  });
  await until(proxy, () => proxy.picker.healthyCount === 3, "three healthy");
  const client = grpcClient(t, address);
  t.equal(from((await grpcGreet(client, "x")).greeting).length, 1);
  killed.child.kill("SIGKILL");
  await new Promise((resolve) => killed.child.once("exit", resolve));
  await until(
    proxy,
    () => events.some((e) => e.type === "disconnected" && e.endpoint === killedUrl),
    "the lost stream",
  );
  t.equal(proxy.picker.healthyCount, 3, "still counted SERVING within the grace");
  const results = await Promise.all(Array.from({ length: 12 }, (_, i) => grpcGreet(client, `k${i}`)));
  t.equal(results.length, 12, "no call failed: refused attempts went to another upstream");
  t.notOk(results.some((r) => from(r.greeting) === "k"));
  t.ok(proxy.stats.retried >= 2, "calls were retried");
  t.match(
    events.find((e) => e.type === "ejected"),
    { endpoint: killedUrl, durationMs: 60_000 },
  );
  t.notOk(proxy.picker.routable.includes(killedUrl));
});

t.test("an upstream dying mid-stream: the gRPC caller gets UNAVAILABLE in the trailers", async (t) => {
  const killed = await spawnUpstream(t, "k");
  const { proxy, address } = await startProxy(t, [`http://127.0.0.1:${killed.port}`], {
    lostStreamGraceMs: 60_000,
  });
  await until(proxy, () => proxy.picker.healthyCount === 1, "healthy");
  const calls = createCallClient(`http://${address}`, { protocol: "grpc" });
  t.teardown(() => calls.close());
  const messages: string[] = [];
  const error = await (async () => {
    try {
      for await (const message of calls.serverStream(count, { name: "100:50" })) {
        messages.push(message.greeting);
        if (messages.length === 2) killed.child.kill("SIGKILL");
      }
    } catch (error) {
      return error;
    }
    return undefined;
  })();
  t.ok(messages.length >= 2);
  t.match(error, { code: 14, message: /upstream stream reset/ });
  t.equal(proxy.stats.broken, 1);
});
