// Closing a server under grpc-go-style client-side health checking (issue 14 item 4): the Watch streams
// must see NOT_SERVING, then GOAWAY, and must not end before it — a Watch ended first is re-opened at once
// on the same connection (a message was received, so no backoff), and every re-opened one ended again.
import { setTimeout as delay } from "node:timers/promises";
import t from "tap";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { startReopeningHealthClient } from "../fixtures/reopening-health-client.ts";
import { startServer } from "../fixtures/start-server.ts";
import { until } from "../server/fixtures/helpers.ts";

t.test(
  "closing a server opens no Watch storm: grpc-go-style clients open no stream while it shuts down",
  async (t) => {
    const { server, port } = await startServer(t);
    const clients = [startReopeningHealthClient(port, ""), startReopeningHealthClient(port, "")];
    t.teardown(() => {
      for (const client of clients) client.stop();
    });
    await until(() => clients.every((client) => client.statuses.length === 1), 10_000);
    const openedBefore = clients.map((client) => client.opened);
    t.same(openedBefore, [1, 1], "one Watch each while serving");

    const started = Date.now();
    await server.close({ graceMs: 5000 });
    const closeMs = Date.now() - started;
    // The clients' reconnect attempts (refused: the port is closed) and any late re-open have had their turn.
    await until(() => clients.every((client) => client.refused >= 1), 10_000);
    await delay(100);

    const openedDuring = clients.reduce((sum, client, i) => sum + client.opened - openedBefore[i]!, 0);
    t.comment(
      `Watch streams opened during one shutdown by 2 clients: ${openedDuring}; close took ${closeMs} ms`,
    );
    t.equal(openedDuring, 0, "no Watch re-opened on the closing connection");
    for (const client of clients) {
      t.same(client.statuses, [ServingStatus.Serving, ServingStatus.NotServing], "each saw NOT_SERVING last");
      t.equal(client.connections, 1, "a reconnect after GOAWAY found the port closed");
    }
    t.ok(closeMs < 2500, `close did not wait for the grace: the clients left on GOAWAY (${closeMs} ms)`);
    t.equal(server.health.watcherCount, 0);
  },
);

t.test(
  "shutdown() ahead of close() (a drain delay): Watch stays open on NOT_SERVING, none re-opened",
  async (t) => {
    const { server, port } = await startServer(t);
    const client = startReopeningHealthClient(port, "");
    t.teardown(() => client.stop());
    await until(() => client.statuses.length === 1, 10_000);
    server.health.shutdown("draining before close");
    await until(() => client.statuses.length === 2, 10_000);
    await delay(300);
    t.same(client.statuses, [ServingStatus.Serving, ServingStatus.NotServing]);
    t.equal(client.opened, 1, "the one Watch is still open: nothing to re-open");
    t.equal(server.health.watcherCount, 1);
  },
);
