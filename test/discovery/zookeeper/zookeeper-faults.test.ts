// The registry faults of reliability.md 39-42 on a real 3-server ensemble: the member a session is on
// dies, the leader dies, the ensemble is down past the session timeout, the ensemble is not up at start,
// no server answers. Sessions are 3-4 s (the fixture's tickTime of 200 ms allows them) to keep this short.
import t, { type Test } from "tap";
import { ZooKeeperError } from "../../../src/discovery/zookeeper/index.ts";
import { nextState, rejection, sleep, startClient, watchEvent } from "../../fixtures/zookeeper-client.ts";
import { needsZooKeeper, startEnsemble } from "../../fixtures/zookeeper-ensemble.ts";

t.test("faults on a real ensemble", needsZooKeeper(), async (t) => {
  const ensemble = await startEnsemble(t);
  const servers = ensemble.servers;
  const sessionTimeoutMs = 4000;

  // A consumer on the ensemble, reading as a registry consumer would.
  const { client: consumer } = startClient(t, { servers, sessionTimeoutMs });
  await consumer.waitConnected(15000);
  await consumer.ensurePath("/faults");

  /**
   * The owner's member (or the leader) is killed with SIGKILL: the owner must come back on another member
   * within the session timeout with the same session, its ephemeral node kept, and a watch set before the
   * fault must fire for a change made after the move (re-armed with SetWatches).
   */
  async function survivesKill(t: Test, victim: "owner's member" | "leader", name: string) {
    const { client: owner, states } = startClient(t, { servers, sessionTimeoutMs });
    await owner.waitConnected(15000);
    const node = `/faults/${name}`;
    await owner.create(node, Buffer.from("provider"), "ephemeral");
    await owner.create(`${node}-config`, Buffer.from("v1"), "persistent");
    const sessionId = owner.sessionId!;
    const before = ensemble.memberOf(owner.currentServer);
    const changed = watchEvent(15000);
    await owner.getData(`${node}-config`, changed.watch);
    const missed = watchEvent(15000);
    await owner.exists(`${node}-missed`, missed.watch);

    const index = victim === "leader" ? await ensemble.leaderIndex() : before;
    t.ok(index >= 0, `the ${victim} is member ${index} (the owner is on ${before})`);
    const reconnected = nextState(owner, "connected", sessionTimeoutMs * 2);
    const lost = nextState(owner, "disconnected", sessionTimeoutMs * 2);
    const killedAt = performance.now();
    await ensemble.kill(index);
    if (victim === "owner's member" || index === before) {
      await lost;
    }
    const back = await reconnected;
    const recoveredMs = performance.now() - killedAt;
    t.comment(`${victim} killed: connected again after ${Math.round(recoveredMs)} ms`);
    t.equal(back.newSession, false, "the same session, not a new one");
    t.equal(owner.sessionId, sessionId, "same session id");
    t.ok(recoveredMs < sessionTimeoutMs, `back within the session timeout (${Math.round(recoveredMs)} ms)`);
    t.not(ensemble.memberOf(owner.currentServer), index, "on a member that is alive");
    t.notOk(
      states.some(([s]) => s === "expired"),
      "never expired",
    );

    // Made while the owner was away or after it moved: SetWatches re-armed both watches.
    await consumer.waitConnected(15000);
    await consumer.create(`${node}-missed`, Buffer.alloc(0), "persistent");
    t.same(await missed.event, { type: "created", path: `${node}-missed` }, "exist watch re-armed");
    await consumer.setData(`${node}-config`, Buffer.from("v2"));
    t.same(await changed.event, { type: "changed", path: `${node}-config` }, "data watch re-armed");

    const stat = await consumer.exists(node);
    t.ok(stat, "the ephemeral node stayed");
    t.equal(stat?.ephemeralOwner, sessionId, "owned by the same session");
    t.equal((await owner.getData(node)).data.toString(), "provider", "the owner works on the new member");

    ensemble.startMember(index);
    await ensemble.ready(30000);
    await owner.close();
    t.equal(await consumer.exists(node), null, "closed: gone");
    await consumer.delete(`${node}-config`);
    await consumer.delete(`${node}-missed`);
  }

  t.test("the member the session is on is killed", (t) => survivesKill(t, "owner's member", "member"));
  t.test("the leader is killed", (t) => survivesKill(t, "leader", "leader"));

  t.test("the ensemble is unreachable at start; requests time out instead of hanging", async (t) => {
    await ensemble.stopAll();
    const { client, states, logs } = startClient(t, { servers, sessionTimeoutMs, requestTimeoutMs: 800 });
    t.equal(client.state, "connecting", "start() does not throw");
    const notYet = await rejection(client.waitConnected(300));
    t.equal(notYet.codeName, "CONNECTIONLOSS");
    t.match(notYet.message, /not connected within 300 ms/);
    const started = performance.now();
    const error = await client.getData("/faults").catch((e: unknown) => e);
    t.ok(error instanceof ZooKeeperError);
    t.equal((error as ZooKeeperError).codeName, "CONNECTIONLOSS");
    t.match((error as Error).message, /no connection to the ensemble within 800 ms/);
    t.ok(performance.now() - started >= 700, "after the request timeout");

    // close() with requests waiting rejects them at once.
    const { client: closing } = startClient(t, { servers, sessionTimeoutMs });
    const pending = [closing.exists("/faults"), closing.create("/faults/x", Buffer.alloc(0), "ephemeral")];
    await closing.close();
    for (const p of pending) {
      const { codeName, message } = await rejection(p);
      t.equal(codeName, "CONNECTIONLOSS", "a request waiting when close() is called rejects");
      t.match(message, /closing|closed/);
    }
    t.equal(closing.state, "closed");

    await sleep(500);
    t.ok(
      logs.some((l) => l.message === "zookeeper connection attempt failed"),
      "failed attempts are logged",
    );
    const waiting = rejection(client.exists("/faults"));
    const slow = client.waitConnected(30000);
    ensemble.startAll();
    await ensemble.ready(30000);
    await slow;
    t.same(states[states.length - 1], ["connected", true], "connects once the ensemble is up");
    await client.waitConnected(1);
    const late = await client.exists("/faults").catch((e: unknown) => e);
    t.ok(late !== null && !(late instanceof Error), "requests work once connected");
    // The request made before the ensemble was up either waited for the connection or timed out: never hung.
    t.match((await waiting).codeName, /^(resolved|CONNECTIONLOSS)$/);
  });

  t.test("the ensemble is down past the session timeout: expired, then a new session", async (t) => {
    const shortSession = 3000;
    const { client: owner, states, logs } = startClient(t, { servers, sessionTimeoutMs: shortSession });
    await owner.waitConnected(15000);
    // An owner re-creates its ephemeral node on every new session, as registration will.
    const recreated: string[] = [];
    owner.onState((state, { newSession }) => {
      if (state !== "connected" || !newSession) return;
      owner.create("/faults/owned", Buffer.from(String(owner.sessionId)), "ephemeral").then(
        (path) => recreated.push(path),
        () => {},
      );
    });
    await owner.create("/faults/owned", Buffer.from("first"), "ephemeral");
    const oldSession = owner.sessionId!;
    const staleWatch = watchEvent(60000);
    await owner.getData("/faults/owned", staleWatch.watch);
    let staleFired = false;
    staleWatch.event.then(
      () => {
        staleFired = true;
      },
      () => {},
    );

    const expired = nextState(owner, "expired", shortSession * 4);
    await ensemble.stopAll();
    await expired;
    t.equal(owner.sessionId, undefined, "no session while expired");
    t.ok(
      logs.some((l) => /session expired/.test(l.message)),
      "the expiry is logged",
    );
    const reconnected = nextState(owner, "connected", 60000);
    ensemble.startAll();
    await ensemble.ready(30000);
    const back = await reconnected;
    t.equal(back.newSession, true, "connected with newSession");
    t.not(owner.sessionId, oldSession, "a new session id");
    t.match(
      states.map(([s]) => s),
      ["connecting", "connected", "disconnected", "expired", "connecting", "connected"],
      "the states in order",
    );

    await consumer.waitConnected(30000);
    // The old session is closed on the server, so its node went; the new session's node is there.
    for (let i = 0; i < 50 && recreated.length === 0; i++) await sleep(100);
    t.same(recreated, ["/faults/owned"], "re-created on the new session");
    const stat = await consumer.exists("/faults/owned");
    t.equal(stat?.ephemeralOwner, owner.sessionId, "owned by the new session, not the old");
    t.notOk(staleFired, "watches of the expired session are dropped");
    await owner.close();
    t.equal(await consumer.exists("/faults/owned"), null);
  });
});
