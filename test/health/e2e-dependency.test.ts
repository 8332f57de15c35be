// End to end: a server whose dependency (a real TCP listener) goes away turns NOT_SERVING, and a
// grpc-js Watch client sees each transition; the admin and probe endpoints on the same port agree.
import { createServer, type Server, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import t from "tap";
import { request } from "undici";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { createAdminHandler } from "../../src/health/admin-handler.ts";
import { tcpCheck } from "../../src/health/builtin-checks.ts";
import { HealthCheckRunner } from "../../src/health/checks.ts";
import { createProbeHandler } from "../../src/health/probe-handler.ts";
import { HealthRegistry } from "../../src/health/registry.ts";
import { startServer } from "../fixtures/start-server.ts";

const protoPath = fileURLToPath(new URL("../../proto/health.proto", import.meta.url));
const loaded = grpc.loadPackageDefinition(
  protoLoader.loadSync(protoPath, { keepCase: true, enums: String, defaults: true }),
) as unknown as { grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } } };

type WatchStub = grpc.Client & {
  watch(request: { service: string }): grpc.ClientReadableStream<{ status: string }>;
};

/** A dependency that can go away and come back on the same port. */
async function startDependency() {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const up = async () => {
    server = createServer((socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server?.once("error", reject);
      server?.listen(port, "127.0.0.1", resolve);
    });
    port = (server.address() as { port: number }).port;
  };
  const down = async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server?.close(resolve));
  };
  await up();
  return { port: () => port, up, down };
}

async function until(read: () => boolean, what: string, limitMs = 10_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!read()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

t.test("dependency down → NOT_SERVING seen by a grpc-js Watch; back up → SERVING", async (t) => {
  const dependency = await startDependency();
  const health = new HealthRegistry();
  health.set("orders.OrderService", ServingStatus.Serving);
  const { port } = await startServer(t, {
    health,
    plainHttpHandlers: [createProbeHandler(health), createAdminHandler(health)],
  });

  const checks = new HealthCheckRunner(health);
  t.teardown(() => checks.close());
  checks.add({
    ...tcpCheck({ host: "127.0.0.1", port: dependency.port(), name: "orders-db" }),
    services: ["orders.OrderService", ""],
    intervalMs: 50,
    timeoutMs: 1000,
    failureThreshold: 2,
    jitter: 0,
  });

  const client = new loaded.grpc.health.v1.Health(
    `127.0.0.1:${port}`,
    grpc.credentials.createInsecure(),
  ) as unknown as WatchStub;
  t.teardown(() => client.close());
  const seen: string[] = [];
  const call = client.watch({ service: "orders.OrderService" });
  call.on("data", (message: { status: string }) => seen.push(message.status));
  call.on("error", () => {}); // CANCELLED at the end

  await until(() => seen.length >= 1, "the first Watch message");
  t.same(seen, ["SERVING"]);
  t.equal(health.watcherCount, 1);

  await dependency.down();
  await until(() => seen.length >= 2, "NOT_SERVING");
  t.same(seen, ["SERVING", "NOT_SERVING"]);
  t.match(health.snapshot().find((s) => s.service === "orders.OrderService")?.failing, [
    { source: "orders-db", reason: /^orders-db: connect 127\.0\.0\.1:\d+: ECONNREFUSED$/ },
  ]);
  let ready = await request(`http://127.0.0.1:${port}/readyz`);
  t.equal(ready.statusCode, 503, "/readyz follows the overall status");
  await ready.body.dump();
  const admin = await request(`http://127.0.0.1:${port}/admin/health`);
  t.match(await admin.body.json(), {
    services: [{ service: "", status: "NOT_SERVING", failing: [{ source: "orders-db" }] }],
  });

  await dependency.up();
  await until(() => seen.length >= 3, "SERVING again");
  t.same(seen, ["SERVING", "NOT_SERVING", "SERVING"]);
  ready = await request(`http://127.0.0.1:${port}/readyz`);
  t.equal(ready.statusCode, 200);
  await ready.body.dump();

  call.cancel();
  await until(() => health.watcherCount === 0, "the watcher to be freed");
  t.equal(health.watcherCount, 0);
  t.same(seen, ["SERVING", "NOT_SERVING", "SERVING"], "nothing after the last transition");
  await dependency.down();
});
