// drainDelayMs, with no registry: between NOT_SERVING and GOAWAY the port stays open, so a poller of Check
// (HAProxy, kubelet) on a new connection sees NOT_SERVING before the port closes — server and proxy alike.
import t, { type Test } from "tap";
import { createHealthClient } from "../../src/client/health-client.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { createTripleProxy } from "../../src/host/triple-proxy.ts";
import { createTripleServer } from "../../src/host/triple-server.ts";

async function pollDuringClose(
  t: Test,
  host: {
    listen(port: number): Promise<{ port: number }>;
    close(options?: { graceMs?: number; drainDelayMs?: number }): Promise<void>;
  },
  delayMs: number,
  closeDelayMs?: number,
) {
  const { port } = await host.listen(0);
  const closing = host.close({
    graceMs: 0,
    ...(closeDelayMs === undefined ? {} : { drainDelayMs: closeDelayMs }),
  });
  const start = Date.now();
  // A new connection, as a poller makes one per check.
  const poller = createHealthClient(`http://127.0.0.1:${port}`);
  t.equal(await poller.check(""), ServingStatus.NotServing, "NOT_SERVING while the port is still open");
  await poller.close();
  await closing;
  t.ok(Date.now() - start >= delayMs - 50, `close() waited the drain delay (${delayMs} ms)`);
}

t.test("server: drainDelayMs option", async (t) => {
  await pollDuringClose(t, createTripleServer({ drainDelayMs: 600 }), 600);
});

t.test("server: close({ drainDelayMs }) overrides it", async (t) => {
  await pollDuringClose(t, createTripleServer(), 600, 600);
});

t.test("proxy: drainDelayMs", async (t) => {
  const upstream = createTripleServer();
  const { port } = await upstream.listen(0);
  t.teardown(() => upstream.close({ graceMs: 0 }));
  await pollDuringClose(t, createTripleProxy({ upstreams: [`127.0.0.1:${port}`], drainDelayMs: 600 }), 600);
});
