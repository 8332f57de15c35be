import t from "tap";
import { ZooKeeperClient } from "../../../src/discovery/zookeeper/index.ts";
import { needsZooKeeper, startEnsemble } from "../../fixtures/zookeeper-ensemble.ts";

t.test("smoke", needsZooKeeper(), async (t) => {
  const ensemble = await startEnsemble(t);
  const logs: unknown[] = [];
  const client = new ZooKeeperClient({
    servers: ensemble.servers,
    sessionTimeoutMs: 4000,
    onLog: (e) => logs.push(e),
  });
  client.start();
  await client.waitConnected(10000);
  t.equal(client.state, "connected");
  t.ok(client.sessionId);
  await client.ensurePath("/a/b");
  t.equal(await client.create("/a/b/c", Buffer.from("hi"), "ephemeral"), "/a/b/c");
  const { data, stat } = await client.getData("/a/b/c");
  t.equal(data.toString(), "hi");
  t.equal(stat.ephemeralOwner, client.sessionId);
  t.same(await client.getChildren("/a/b"), ["c"]);
  await client.delete("/a/b/c");
  t.equal(await client.exists("/a/b/c"), null);
  await client.close();
  t.equal(client.state, "closed");
  console.log(logs);
});
