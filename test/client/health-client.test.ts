import t from "tap";
import { createHealthClient, type HealthClientOptions } from "../../src/client/health-client.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { Code } from "../../src/wire/code.ts";
import { RpcError } from "../../src/wire/rpc-error.ts";
import { type Peer, startConnectPeer, startGrpcJsPeer } from "./fixtures/peers.ts";

const initial = { "greet.GreetService": "SERVING", "down.Service": "NOT_SERVING" } as const;

interface Case {
  name: string;
  start: () => Promise<Peer>;
  options: HealthClientOptions;
}

const cases: Case[] = [
  {
    name: "grpc-js, gRPC proto",
    start: () => startGrpcJsPeer({ ...initial }),
    options: { protocol: "grpc" },
  },
  {
    name: "connect-node h2, gRPC proto",
    start: () => startConnectPeer({ initial }),
    options: { protocol: "grpc" },
  },
  {
    name: "connect-node h2, gRPC json",
    start: () => startConnectPeer({ initial }),
    options: { protocol: "grpc", codec: "json" },
  },
  {
    name: "connect-node h2, triple proto",
    start: () => startConnectPeer({ initial }),
    options: { protocol: "triple" },
  },
  {
    name: "connect-node h2, triple json",
    start: () => startConnectPeer({ initial }),
    options: { protocol: "triple", codec: "json" },
  },
  {
    name: "connect-node HTTP/1.1, triple proto",
    start: () => startConnectPeer({ http1: true, initial }),
    options: { protocol: "triple", httpVersion: "1.1" },
  },
  {
    name: "connect-node HTTP/1.1, triple json",
    start: () => startConnectPeer({ http1: true, initial }),
    options: { protocol: "triple", codec: "json", httpVersion: "1.1" },
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const peer = await c.start();
    const client = createHealthClient(peer.url, { ...c.options, timeoutMs: 5000 });
    t.teardown(async () => {
      await client.close();
      await peer.close();
    });

    t.equal(await client.check("greet.GreetService"), ServingStatus.Serving, "Check SERVING");
    t.equal(await client.check("down.Service"), ServingStatus.NotServing, "Check NOT_SERVING");
    t.equal(await client.check(), ServingStatus.Serving, "Check of the whole server");
    const error = await client.check("no.Such").then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(error instanceof RpcError, "an RpcError");
    t.equal((error as RpcError).code, Code.NotFound, "unknown service: NOT_FOUND");

    const list = await client.list();
    t.equal(list.get("greet.GreetService"), ServingStatus.Serving);
    t.equal(list.get("down.Service"), ServingStatus.NotServing);

    // Watch: the current status, then the change; ends cleanly on abort.
    const controller = new AbortController();
    const seen: ServingStatus[] = [];
    for await (const status of client.watch("greet.GreetService", { signal: controller.signal })) {
      seen.push(status);
      if (seen.length === 1) peer.setStatus("greet.GreetService", "NOT_SERVING");
      if (seen.length === 2) controller.abort();
    }
    t.same(seen, [ServingStatus.Serving, ServingStatus.NotServing], "Watch: current status, then the change");

    // Breaking out of the loop cancels the stream; the session stays usable.
    for await (const status of client.watch("down.Service")) {
      t.equal(status, ServingStatus.NotServing);
      break;
    }
    t.equal(
      await client.check("down.Service"),
      ServingStatus.NotServing,
      "still usable after a cancelled watch",
    );
  });
}

t.test("one HTTP/2 session is reused across calls and replaced after close", async (t) => {
  const peer = await startConnectPeer({ initial });
  t.teardown(() => peer.close());
  let sessions = 0;
  const client = createHealthClient(peer.url, {
    trace: (event) => {
      if (event.type === "request") sessions++;
    },
  });
  await client.connect();
  await Promise.all([client.check(), client.check("greet.GreetService"), client.list()]);
  t.equal(sessions, 3, "three requests traced");
  await client.close();
  await t.rejects(client.check(), { code: Code.Unavailable }, "a closed client refuses calls");
});

t.test("watch with a deadline ends with DEADLINE_EXCEEDED", async (t) => {
  const peer = await startGrpcJsPeer({ ...initial });
  const client = createHealthClient(peer.url);
  t.teardown(async () => {
    await client.close();
    await peer.close();
  });
  const seen: ServingStatus[] = [];
  await t.rejects(
    (async () => {
      for await (const status of client.watch("greet.GreetService", { timeoutMs: 200 })) seen.push(status);
    })(),
    { code: Code.DeadlineExceeded },
  );
  t.same(seen, [ServingStatus.Serving]);
});

t.test("watch of an unknown service yields SERVICE_UNKNOWN and stays open", async (t) => {
  const peer = await startGrpcJsPeer({ ...initial });
  const client = createHealthClient(peer.url);
  t.teardown(async () => {
    await client.close();
    await peer.close();
  });
  const seen: ServingStatus[] = [];
  for await (const status of client.watch("later.Service")) {
    seen.push(status);
    if (seen.length === 1) peer.setStatus("later.Service", "SERVING");
    else break;
  }
  t.same(seen, [ServingStatus.ServiceUnknown, ServingStatus.Serving]);
});

t.test("an aborted signal before the call starts", async (t) => {
  const peer = await startGrpcJsPeer({ ...initial });
  const client = createHealthClient(peer.url);
  t.teardown(async () => {
    await client.close();
    await peer.close();
  });
  await t.rejects(client.check("", { signal: AbortSignal.abort() }), { code: Code.Canceled });
  const seen: ServingStatus[] = [];
  for await (const status of client.watch("", { signal: AbortSignal.abort() })) seen.push(status);
  t.same(seen, [], "an aborted watch just ends");
});

t.test("close() ends a running watch", async (t) => {
  const peer = await startConnectPeer({ initial });
  t.teardown(() => peer.close());
  const client = createHealthClient(peer.url, { protocol: "triple" });
  const iterator = client.watch("greet.GreetService");
  t.equal((await iterator.next()).value, ServingStatus.Serving);
  const pending = iterator.next().then(
    () => "ended",
    (e: unknown) => (e as RpcError).code,
  );
  await client.close();
  const outcome = await pending;
  t.ok(
    outcome === "ended" || outcome === Code.Canceled || outcome === Code.Unavailable,
    `watch ended (${outcome})`,
  );
});
