// Issue 14 item 5: the default limits leave room for unary calls beside the Watch streams. A grpc-js client
// (one channel, so one connection) holding as many Watch streams as a connection may hold still gets its
// Check answered on that connection; before, maxConcurrentStreams (100) equalled the watcher limit (100).
import * as grpc from "@grpc/grpc-js";
import t from "tap";
import { defaultMaxWatchersPerConnection } from "../../src/health/health-service.ts";
import { createTripleServer } from "../../src/host/triple-server.ts";
import { http2Defaults } from "../../src/server/options.ts";
import { ConfigError } from "../../src/wire/config-error.ts";
import {
  GrpcHealthClient as HealthClient,
  type GrpcHealthStub as HealthStub,
} from "../fixtures/grpc-health.ts";
import { startServer } from "../fixtures/start-server.ts";
import { until } from "./fixtures/helpers.ts";

function check(client: HealthStub): Promise<string> {
  return new Promise((resolve, reject) =>
    client.check({ service: "" }, { deadline: Date.now() + 10_000 }, (error, response) =>
      error ? reject(error) : resolve(response!.status),
    ),
  );
}

t.test("defaults: 100 Watch streams per connection, 256 streams in all", async (t) => {
  t.equal(defaultMaxWatchersPerConnection, 100);
  t.equal(http2Defaults.maxConcurrentStreams, 256);
});

t.test("100 Watch streams on one grpc-js channel, then a Check on it is answered", async (t) => {
  const { server, addr } = await startServer(t);
  const client = new HealthClient(addr, grpc.credentials.createInsecure()) as unknown as HealthStub;
  t.teardown(() => client.close());
  const calls: grpc.ClientReadableStream<{ status: string }>[] = [];
  let first = 0;
  for (let i = 0; i < defaultMaxWatchersPerConnection; i++) {
    const call = client.watch({ service: "" });
    call.once("data", () => first++);
    call.on("error", () => {});
    calls.push(call);
  }
  await until(() => first === defaultMaxWatchersPerConnection, 20_000);
  t.equal(server.health.watcherCount, 100, "100 Watch streams open");
  t.equal(server.connections, 1, "all on one connection");
  t.equal(await check(client), "SERVING", "a Check beside them is answered on the same connection");

  const extra = client.watch({ service: "" });
  const status = await new Promise<grpc.StatusObject>((resolve) => {
    extra.on("error", () => {});
    extra.on("status", resolve);
  });
  t.equal(status.code, grpc.status.RESOURCE_EXHAUSTED, "the 101st Watch: RESOURCE_EXHAUSTED");
  t.equal(await check(client), "SERVING", "and Checks still answered afterwards");
  t.equal(server.connections, 1);
  for (const call of calls) call.cancel();
  await until(() => server.health.watcherCount === 0, 10_000);
});

t.test("the watcher limit follows maxConcurrentStreams, and must stay below it", async (t) => {
  const { server, addr } = await startServer(t, { http2: { maxConcurrentStreams: 10 } });
  const client = new HealthClient(addr, grpc.credentials.createInsecure()) as unknown as HealthStub;
  t.teardown(() => client.close());
  const ends: number[] = [];
  let first = 0;
  const calls = Array.from({ length: 6 }, () => {
    const call = client.watch({ service: "" });
    call.once("data", () => first++);
    call.on("error", () => {});
    call.on("status", (status: grpc.StatusObject) => ends.push(status.code));
    return call;
  });
  await until(() => first === 5 && ends.length === 1, 10_000);
  t.same(ends, [grpc.status.RESOURCE_EXHAUSTED], "half the streams (5) may be Watch streams");
  t.equal(await check(client), "SERVING", "the other half is room for unary calls");
  for (const call of calls) call.cancel();
  await until(() => server.health.watcherCount === 0, 10_000);

  t.throws(
    () =>
      createTripleServer({
        http2: { maxConcurrentStreams: 10 },
        healthService: { maxWatchersPerConnection: 10 },
      }),
    new ConfigError(
      "healthService.maxWatchersPerConnection (10) must be below http2.maxConcurrentStreams (10): unary calls need room beside the Watch streams",
    ),
  );
  t.doesNotThrow(() =>
    createTripleServer({
      http2: { maxConcurrentStreams: 10 },
      healthService: { maxWatchersPerConnection: 9 },
    }),
  );
});
