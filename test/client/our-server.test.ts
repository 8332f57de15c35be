// The client against this project's server: every protocol, codec and HTTP version.
import t from "tap";
import { createHealthClient, type HealthClientOptions } from "../../src/client/health-client.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { Code } from "../../src/wire/code.ts";
import { startServer } from "../fixtures/start-server.ts";

const variants: [string, HealthClientOptions][] = [
  ["gRPC proto", { protocol: "grpc" }],
  ["gRPC json", { protocol: "grpc", codec: "json" }],
  ["triple proto h2", { protocol: "triple" }],
  ["triple json h2", { protocol: "triple", codec: "json" }],
  ["triple proto HTTP/1.1", { protocol: "triple", httpVersion: "1.1" }],
  ["triple json HTTP/1.1", { protocol: "triple", codec: "json", httpVersion: "1.1" }],
];

t.test("createTripleServer", async (t) => {
  const { server } = await startServer(t, {}, { graceMs: 100 });
  server.health.set("greet.GreetService", ServingStatus.Serving);
  server.health.set("down.Service", ServingStatus.NotServing);
  const url = `http://127.0.0.1:${server.port}`;

  for (const [name, options] of variants) {
    t.test(name, async (t) => {
      const client = createHealthClient(url, { ...options, timeoutMs: 5000, metadata: { "x-probe": "1" } });
      t.teardown(() => client.close());
      t.equal(await client.check("greet.GreetService"), ServingStatus.Serving);
      t.equal(await client.check("down.Service"), ServingStatus.NotServing);
      t.equal(await client.check(""), ServingStatus.Serving);
      await t.rejects(client.check("no.Such"), { code: Code.NotFound });
      const list = await client.list();
      t.equal(list.get("greet.GreetService"), ServingStatus.Serving);
      t.equal(list.get("down.Service"), ServingStatus.NotServing);

      const controller = new AbortController();
      const seen: ServingStatus[] = [];
      for await (const status of client.watch("flip.Service", { signal: controller.signal })) {
        seen.push(status);
        if (seen.length === 1) server.health.set("flip.Service", ServingStatus.Serving);
        else if (seen.length === 2) server.health.set("flip.Service", ServingStatus.NotServing);
        else controller.abort();
      }
      t.same(seen, [ServingStatus.ServiceUnknown, ServingStatus.Serving, ServingStatus.NotServing]);
      server.health.clear("flip.Service");
      await t.rejects(
        (async () => {
          for await (const _ of client.watch("greet.GreetService", { timeoutMs: 100 })) {
            // the first status arrives, then the deadline passes
          }
        })(),
        { code: Code.DeadlineExceeded },
      );
    });
  }
});

t.test("watchers see the server close", async (t) => {
  const { server } = await startServer(t);
  server.health.set("a", ServingStatus.Serving);
  const client = createHealthClient(`http://127.0.0.1:${server.port}`);
  t.teardown(() => client.close());
  const seen: ServingStatus[] = [];
  let error: unknown;
  try {
    for await (const status of client.watch("a")) {
      seen.push(status);
      if (seen.length === 1) void server.close({ graceMs: 200 });
    }
  } catch (e) {
    error = e;
  }
  t.same(seen, [ServingStatus.Serving, ServingStatus.NotServing], "NOT_SERVING before the end");
  t.ok(
    error === undefined || (error as { code: Code }).code === Code.Unavailable,
    "then UNAVAILABLE or a clean end",
  );
});
