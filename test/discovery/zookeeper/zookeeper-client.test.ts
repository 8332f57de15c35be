// The client against a real 3-server ensemble (Debian's zookeeper): every operation, watches, errors,
// ACLs, and what close() does. The faults are in zookeeper-faults.test.ts.
import t from "tap";
import { ErrorCode, ZooKeeperClient, ZooKeeperError } from "../../../src/discovery/zookeeper/index.ts";
import { ConfigError } from "../../../src/wire/config-error.ts";
import { rejection, startClient, watchEvent } from "../../fixtures/zookeeper-client.ts";
import { needsZooKeeper, startEnsemble } from "../../fixtures/zookeeper-ensemble.ts";

t.test("options are checked where they are given", async (t) => {
  const bad: Array<[string, unknown, RegExp]> = [
    ["no servers", { servers: [] }, /servers must list at least one member/],
    ["no host", { servers: [{ host: "", port: 1 }] }, /a server has no host/],
    ["bad port", { servers: [{ host: "h", port: 70000 }] }, /port 70000 of h is not a TCP port/],
    [
      "bad timeout",
      { servers: [{ host: "h", port: 1 }], sessionTimeoutMs: 0 },
      /sessionTimeoutMs must be a positive/,
    ],
    [
      "bad connect timeout",
      { servers: [{ host: "h", port: 1 }], connectTimeoutMs: Number.NaN },
      /connectTimeoutMs/,
    ],
    [
      "auth without user",
      { servers: [{ host: "h", port: 1 }], auth: { user: "", password: "p" } },
      /auth needs a user/,
    ],
  ];
  for (const [name, options, message] of bad) {
    const error = t.throws(() => new ZooKeeperClient(options as never), name) as Error;
    t.ok(error instanceof ConfigError, `${name}: ConfigError`);
    t.match(error.message, message, name);
  }
});

t.test("on a real ensemble", needsZooKeeper(), async (t) => {
  const ensemble = await startEnsemble(t);
  const servers = ensemble.servers;

  t.test("create, getData, setData, getChildren, exists, delete", async (t) => {
    const { client, logs, states } = startClient(t, { servers, sessionTimeoutMs: 4000 });
    t.equal(client.state, "connecting");
    t.equal(client.sessionId, undefined);
    await client.waitConnected(15000);
    t.same(states[states.length - 1], ["connected", true], "connected, a new session");
    t.ok(client.sessionId! > 0n);
    t.equal(client.negotiatedTimeoutMs, 4000, "the server grants what was asked");
    t.ok(ensemble.memberOf(client.currentServer) >= 0, "currentServer is a member");
    t.match(logs, [{ level: "info", message: "zookeeper session established", timeoutMs: 4000 }]);

    await client.ensurePath("/crud/parent");
    await client.ensurePath("/crud/parent");
    await client.ensurePath("/");
    t.equal(await client.create("/crud/parent/p", Buffer.from("one"), "persistent"), "/crud/parent/p");
    t.equal(await client.create("/crud/parent/e", new Uint8Array(0), "ephemeral"), "/crud/parent/e");

    const { data, stat } = await client.getData("/crud/parent/p");
    t.equal(data.toString(), "one");
    t.equal(stat.version, 0);
    t.equal(stat.dataLength, 3);
    t.equal(stat.ephemeralOwner, 0n, "persistent: no owner");
    t.equal(typeof stat.ctime, "number");
    t.ok(Math.abs(stat.ctime - Date.now()) < 60000, "ctime is epoch ms");

    const ephemeral = await client.exists("/crud/parent/e");
    t.equal(ephemeral!.ephemeralOwner, client.sessionId, "ephemeral: owned by the session");

    const updated = await client.setData("/crud/parent/p", Buffer.from("two"), 0);
    t.equal(updated.version, 1);
    t.equal((await client.getData("/crud/parent/p")).data.toString(), "two");
    t.equal((await client.setData("/crud/parent/p", Buffer.from("three"))).version, 2, "version -1: any");

    t.same((await client.getChildren("/crud/parent")).sort(), ["e", "p"]);
    t.same(await client.getChildren("/crud/parent/p"), []);
    t.equal((await client.exists("/crud/parent"))!.numChildren, 2);

    await client.delete("/crud/parent/p", 2);
    await client.delete("/crud/parent/e");
    t.equal(await client.exists("/crud/parent/p"), null);
    t.same(await client.getChildren("/crud/parent"), []);

    const big = Buffer.alloc(512 * 1024, 1);
    await client.create("/crud/big", big, "persistent");
    t.equal((await client.getData("/crud/big")).data.length, big.length, "a 512 KiB node round-trips");
    await client.delete("/crud/big");
  });

  t.test("errors name their code and path", async (t) => {
    const { client } = startClient(t, { servers, sessionTimeoutMs: 4000 });
    await client.waitConnected(15000);
    await client.ensurePath("/errors");
    await client.create("/errors/a", Buffer.from("x"), "persistent");
    await client.create("/errors/a/child", Buffer.from("x"), "persistent");
    const cases: Array<[string, () => Promise<unknown>, string, string | undefined]> = [
      [
        "create twice",
        () => client.create("/errors/a", Buffer.alloc(0), "persistent"),
        "NODEEXISTS",
        "/errors/a",
      ],
      [
        "no parent",
        () => client.create("/errors/none/x", Buffer.alloc(0), "persistent"),
        "NONODE",
        "/errors/none/x",
      ],
      ["get missing", () => client.getData("/errors/missing"), "NONODE", "/errors/missing"],
      ["children of missing", () => client.getChildren("/errors/missing"), "NONODE", "/errors/missing"],
      ["delete missing", () => client.delete("/errors/missing"), "NONODE", "/errors/missing"],
      ["set missing", () => client.setData("/errors/missing", Buffer.alloc(0)), "NONODE", "/errors/missing"],
      ["bad version", () => client.setData("/errors/a", Buffer.alloc(0), 7), "BADVERSION", "/errors/a"],
      ["delete bad version", () => client.delete("/errors/a/child", 3), "BADVERSION", "/errors/a/child"],
      ["not empty", () => client.delete("/errors/a"), "NOTEMPTY", "/errors/a"],
      ["relative path", () => client.getData("errors"), "BADARGUMENTS", "errors"],
      ["trailing slash", () => client.exists("/errors/"), "BADARGUMENTS", "/errors/"],
      [
        "invalid path (server)",
        () => client.create("/errors/a/.", Buffer.alloc(0), "persistent"),
        "BADARGUMENTS",
        "/errors/a/.",
      ],
      [
        "creator ACL without auth",
        () => client.create("/errors/c", Buffer.alloc(0), "persistent", "creator"),
        "INVALIDACL",
        "/errors/c",
      ],
      [
        "over jute.maxbuffer",
        () => client.create("/errors/huge", Buffer.alloc(0x100000), "persistent"),
        "BADARGUMENTS",
        "/errors/huge",
      ],
    ];
    for (const [name, call, codeName, path] of cases) {
      const error = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      t.ok(error instanceof ZooKeeperError, `${name}: a ZooKeeperError`);
      t.equal((error as ZooKeeperError).codeName, codeName, name);
      t.equal((error as ZooKeeperError).code, ErrorCode[codeName as keyof typeof ErrorCode], `${name}: code`);
      t.equal((error as ZooKeeperError).path, path, `${name}: path`);
    }
    await client.create("/errors/eph", Buffer.alloc(0), "ephemeral");
    const error = await client
      .create("/errors/eph/x", Buffer.alloc(0), "persistent")
      .catch((e: unknown) => e);
    t.equal((error as ZooKeeperError).codeName, "NOCHILDRENFOREPHEMERALS");
    t.equal(client.state, "connected", "errors leave the session as it was");
  });

  t.test("watches fire once: data, children, created, deleted", async (t) => {
    const { client } = startClient(t, { servers, sessionTimeoutMs: 4000 });
    const other = startClient(t, { servers, sessionTimeoutMs: 4000 }).client;
    await client.waitConnected(15000);
    await other.waitConnected(15000);
    await client.ensurePath("/watch");

    const created = watchEvent();
    t.equal(await client.exists("/watch/n", created.watch), null);
    await other.create("/watch/n", Buffer.from("1"), "persistent");
    t.same(await created.event, { type: "created", path: "/watch/n" });

    const changed = watchEvent();
    const alsoChanged = watchEvent();
    await client.getData("/watch/n", changed.watch);
    await client.exists("/watch/n", alsoChanged.watch);
    await other.setData("/watch/n", Buffer.from("2"));
    t.same(await changed.event, { type: "changed", path: "/watch/n" });
    t.same(
      await alsoChanged.event,
      { type: "changed", path: "/watch/n" },
      "exists on a node is a data watch",
    );

    const children = watchEvent();
    t.same(await client.getChildren("/watch", children.watch), ["n"]);
    await other.create("/watch/m", Buffer.alloc(0), "ephemeral");
    t.same(await children.event, { type: "children", path: "/watch" });

    const deleted = watchEvent();
    const childOfDeleted = watchEvent();
    await client.getData("/watch/n", deleted.watch);
    await client.getChildren("/watch/n", childOfDeleted.watch);
    await other.delete("/watch/n");
    t.same(await deleted.event, { type: "deleted", path: "/watch/n" });
    t.same(await childOfDeleted.event, { type: "deleted", path: "/watch/n" });

    let calls = 0;
    await client.getData("/watch/m", () => {
      calls++;
      throw new Error("a watch callback that throws");
    });
    const after = watchEvent();
    await client.exists("/watch/m", after.watch);
    await other.setData("/watch/m", Buffer.from("a"));
    await after.event;
    await other.setData("/watch/m", Buffer.from("b"));
    await client.exists("/watch/m");
    t.equal(calls, 1, "one-shot, and a throwing callback does not break the client");
    t.equal(client.state, "connected");
  });

  t.test("replace: delete + create in one multi, applied together or not at all", async (t) => {
    const { client: owner } = startClient(t, { servers, sessionTimeoutMs: 10000 });
    const { client } = startClient(t, { servers, sessionTimeoutMs: 4000 });
    await owner.waitConnected(15000);
    await client.waitConnected(15000);
    await owner.ensurePath("/replace");
    await owner.create("/replace/e", Buffer.from("old"), "ephemeral");
    const changed = watchEvent(5000);
    t.same(await client.getChildren("/replace", changed.watch), ["e"]);
    t.equal(await client.replace("/replace/e", Buffer.from("new"), "ephemeral"), "/replace/e");
    t.same(await changed.event, { type: "children", path: "/replace" });
    t.same(await client.getChildren("/replace"), ["e"], "there when the watcher reads");
    const { data, stat } = await client.getData("/replace/e");
    t.equal(data.toString(), "new");
    t.equal(stat.ephemeralOwner, client.sessionId, "now owned by the session that replaced it");
    t.equal(stat.czxid, (await client.exists("/replace"))!.pzxid, "the parent's last child change");

    const missing = await rejection(client.replace("/replace/none", Buffer.from("x"), "ephemeral"));
    t.equal(missing.codeName, "NONODE", "nothing to replace: NONODE (the delete's)");
    t.match(missing.message, /not applied/);
    t.equal(await client.exists("/replace/none"), null, "and the create in the same multi was not applied");
    await owner.create("/replace/full", Buffer.alloc(0), "persistent");
    await owner.create("/replace/full/child", Buffer.alloc(0), "persistent");
    const notEmpty = await rejection(client.replace("/replace/full", Buffer.from("x"), "persistent"));
    t.equal(notEmpty.codeName, "NOTEMPTY");
    t.same(await client.getChildren("/replace/full"), ["child"], "left as it was");
  });

  t.test("ephemeral nodes go at once when the owner closes", async (t) => {
    const owner = startClient(t, { servers, sessionTimeoutMs: 10000 }).client;
    const { client: reader } = startClient(t, { servers, sessionTimeoutMs: 4000 });
    await owner.waitConnected(15000);
    await reader.waitConnected(15000);
    await owner.ensurePath("/close");
    await owner.create("/close/e", Buffer.alloc(0), "ephemeral");
    const gone = watchEvent(5000);
    t.ok(await reader.exists("/close/e", gone.watch));
    const started = performance.now();
    await owner.close();
    t.same(await gone.event, { type: "deleted", path: "/close/e" });
    t.ok(performance.now() - started < 5000, "well before the 10 s session timeout");
    t.equal(owner.state, "closed");
    t.equal(owner.sessionId, undefined);
    await owner.close();
    const after = await owner.getData("/close").catch((e: unknown) => e);
    t.equal((after as ZooKeeperError).codeName, "CONNECTIONLOSS", "requests after close reject at once");
    t.equal((await rejection(owner.waitConnected(1000))).codeName, "CONNECTIONLOSS");
  });

  t.test("digest auth: the creator ACL is writable by its user only, readable by all", async (t) => {
    const auth = { user: "provider", password: "secret" };
    const { client: owner } = startClient(t, { servers, sessionTimeoutMs: 4000, auth });
    const { client: stranger } = startClient(t, { servers, sessionTimeoutMs: 4000 });
    const { client: wrong } = startClient(t, {
      servers,
      sessionTimeoutMs: 4000,
      auth: { user: "provider", password: "guess" },
    });
    const { client: same } = startClient(t, { servers, sessionTimeoutMs: 4000, auth });
    for (const c of [owner, stranger, wrong, same]) await c.waitConnected(15000);
    await owner.ensurePath("/acl/guarded", "creator");
    await owner.create("/acl/guarded/node", Buffer.from("mine"), "persistent", "creator");

    t.equal((await stranger.getData("/acl/guarded/node")).data.toString(), "mine", "world can read");
    for (const c of [stranger, wrong]) {
      const write = await c.setData("/acl/guarded/node", Buffer.from("x")).catch((e: unknown) => e);
      t.equal((write as ZooKeeperError).codeName, "NOAUTH", "no write without the password");
      t.equal((write as ZooKeeperError).path, "/acl/guarded/node");
      const del = await c.delete("/acl/guarded/node").catch((e: unknown) => e);
      t.equal((del as ZooKeeperError).codeName, "NOAUTH", "no delete (the parent's ACL)");
      const create = await c
        .create("/acl/guarded/other", Buffer.alloc(0), "persistent")
        .catch((e: unknown) => e);
      t.equal((create as ZooKeeperError).codeName, "NOAUTH", "no create under it");
    }
    await same.setData("/acl/guarded/node", Buffer.from("ours"));
    t.equal(
      (await stranger.getData("/acl/guarded/node")).data.toString(),
      "ours",
      "the same user in another session may write",
    );
    await owner.delete("/acl/guarded/node");
  });
});
