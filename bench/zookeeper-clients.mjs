// Issue 22's decision by measurement: the same ZooKeeper fault list run against three clients on a real
// 3-server ensemble (Debian's zookeeper, bench/lib/zookeeper-ensemble.mjs):
//   ours                   src/discovery/zookeeper (dist/, so `npm run build` first)
//   node-zookeeper-client  npm, pure JS
//   zookeeper              npm, the Apache C client as an addon (builds from source at install)
// The two npm clients are NOT dependencies of this package: install them in a temp folder and pass it:
//
//   mkdir /tmp/zk-candidates && cd /tmp/zk-candidates && npm init -y >/dev/null &&
//     npm install --foreground-scripts node-zookeeper-client zookeeper
//   npm run build && node bench/zookeeper-clients.mjs --candidates /tmp/zk-candidates
//
// Each fault is judged the way a registry needs it: an "owner" client holds an ephemeral node and a data
// watch; a separate reader (our client, only reading, as a consumer would) checks the node and its owner
// session. An owner re-creates its node whenever its client reports a new session (that is all a
// registry can do); a client that stays closed after expiry fails that fault.
import { createRequire } from "node:module";
import { join } from "node:path";
import { parseOptions, usage } from "./lib/args.mjs";
import { markdownTable } from "./lib/report.mjs";
import { PartitionProxy } from "./lib/tcp-partition.mjs";
import { ZooKeeperEnsemble, zookeeperMissing } from "./lib/zookeeper-ensemble.mjs";

const spec = {
  candidates: { default: "", help: "folder whose node_modules holds node-zookeeper-client and zookeeper" },
  clients: { default: "ours,node-zookeeper-client,zookeeper", help: "comma list of clients to run" },
  "session-ms": { default: 4000, help: "session timeout asked by every client" },
};
const options = parseOptions(spec);
if (options.help) {
  console.log(usage("node bench/zookeeper-clients.mjs", spec));
  process.exit(0);
}
const missing = zookeeperMissing();
if (missing) {
  console.error(missing);
  process.exit(1);
}

const sessionMs = options["session-ms"];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => performance.now();

/** Resolves with the value of `poll()` once truthy, or undefined after `timeoutMs`. */
async function until(poll, timeoutMs, everyMs = 50) {
  const deadline = now() + timeoutMs;
  while (now() < deadline) {
    try {
      const value = await poll();
      if (value) return value;
    } catch {
      // not yet
    }
    await sleep(everyMs);
  }
  return undefined;
}

/** Rejects after `ms` (so a hung call is measured, not waited for). */
function within(promise, ms) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms);
    }),
  ]);
}

// --- adapters: one shape for three clients -----------------------------------------------------------
// { connect(), sessionId(): bigint|undefined, state(): string, events: string[], createEphemeral(path),
//   watchData(path, cb), getData(path), close() }
// `onNewSession(fn)` runs fn after every new session (first one included).

async function oursAdapter(servers) {
  const { ZooKeeperClient } = await import("../dist/discovery/zookeeper/index.js");
  const client = new ZooKeeperClient({ servers, sessionTimeoutMs: sessionMs });
  const events = [];
  const newSession = [];
  client.onState((state, info) => {
    events.push(state);
    if (state === "connected" && info.newSession) for (const fn of newSession) fn();
  });
  return {
    events,
    connect: () => client.start(),
    connected: () => client.state === "connected",
    sessionId: () => client.sessionId,
    onNewSession: (fn) => newSession.push(fn),
    createEphemeral: (path) => client.create(path, Buffer.from("x"), "ephemeral"),
    watchData: (path, cb) => client.getData(path, () => cb()),
    getData: (path) => client.getData(path),
    close: () => client.close(),
  };
}

async function nodeZookeeperClientAdapter(servers, requireFrom) {
  const zookeeper = requireFrom("node-zookeeper-client");
  const client = zookeeper.createClient(servers.map((s) => `${s.host}:${s.port}`).join(","), {
    sessionTimeout: sessionMs,
    spinDelay: 200,
    retries: 0,
  });
  const events = [];
  const newSession = [];
  let lastSession;
  for (const name of ["connected", "disconnected", "expired", "authenticationFailed"]) {
    client.on(name, () => {
      events.push(name);
      if (name === "connected") {
        const id = client.getSessionId().readBigInt64BE(0);
        if (id !== lastSession) {
          lastSession = id;
          for (const fn of newSession) fn();
        }
      }
    });
  }
  const call = (fn, ...args) =>
    new Promise((resolve, reject) =>
      fn.call(client, ...args, (error, ...rest) => (error ? reject(error) : resolve(rest))),
    );
  return {
    events,
    connect: () => client.connect(),
    connected: () => client.getState() === zookeeper.State.SYNC_CONNECTED,
    sessionId: () => {
      const id = client.getSessionId();
      return id && id.length === 8 ? id.readBigInt64BE(0) : undefined;
    },
    onNewSession: (fn) => newSession.push(fn),
    createEphemeral: (path) =>
      call(
        client.create,
        path,
        Buffer.from("x"),
        zookeeper.ACL.OPEN_ACL_UNSAFE,
        zookeeper.CreateMode.EPHEMERAL,
      ),
    watchData: (path, cb) => call(client.getData, path, () => cb()),
    getData: (path) => call(client.getData, path),
    close: () => client.close(),
  };
}

async function cClientAdapter(servers, requireFrom) {
  const ZooKeeper = requireFrom("zookeeper");
  const client = new ZooKeeper({
    connect: servers.map((s) => `${s.host}:${s.port}`).join(","),
    timeout: sessionMs,
    debug_level: ZooKeeper.constants.ZOO_LOG_LEVEL_ERROR,
    host_order_deterministic: false,
  });
  const events = [];
  const newSession = [];
  let lastSession;
  let state = "connecting";
  client.on("connect", () => {
    events.push("connect");
    state = "connected";
    const id = BigInt(`0x${client.client_id}`);
    if (id !== lastSession) {
      lastSession = id;
      for (const fn of newSession) fn();
    }
  });
  client.on("connecting", () => {
    events.push("connecting");
    state = "connecting";
  });
  client.on("close", () => {
    // The addon hands the wrapper, not the code: the native state says why (-112 expired, 999 closed…).
    events.push(`close(state ${client.state})`);
    state = "closed";
  });
  return {
    events,
    connect: () => client.init({}),
    connected: () => state === "connected",
    sessionId: () => (state === "closed" ? undefined : lastSession),
    onNewSession: (fn) => newSession.push(fn),
    createEphemeral: (path) => client.create(path, Buffer.from("x"), ZooKeeper.constants.ZOO_EPHEMERAL),
    watchData: (path, cb) => client.w_get(path, () => cb()),
    getData: (path) => client.get(path, false),
    close: () => {
      if (state !== "closed") client.close();
    },
  };
}

// --- the faults ---------------------------------------------------------------------------------------

/** Owner with an ephemeral node re-created on every new session and a data watch on a config node. */
async function owner(makeAdapter, reader, name) {
  const adapter = await makeAdapter();
  const node = `/bench/${name}`;
  adapter.onNewSession(() => {
    adapter.createEphemeral(node).catch(() => {});
  });
  adapter.connect();
  // A registry re-creates what is missing whenever it is connected: so does the owner here, so a
  // create lost to a connection change is not counted against a client.
  const up = await until(async () => {
    if (!adapter.connected()) return false;
    if (await reader.exists(node)) return true;
    await adapter.createEphemeral(node).catch(() => {});
    return false;
  }, 20000);
  if (!up)
    throw new Error(`the owner never connected and created its node (events ${adapter.events.join(">")})`);
  return { adapter, node };
}

async function faultKill(ensemble, reader, makeAdapter, which) {
  const { adapter, node } = await owner(makeAdapter, reader, `kill-${which}`);
  const config = `/bench/config-${which}-${Math.random().toString(36).slice(2)}`;
  await reader.create(config, Buffer.from("v1"), "persistent");
  let fired = false;
  // The owner may be on a member that has not applied the reader's create yet (ZooKeeper orders one
  // client's view, not two clients'): retry until its member has it.
  const armed = await until(
    () =>
      adapter
        .watchData(config, () => {
          fired = true;
        })
        .then(() => true),
    5000,
  );
  if (!armed) throw new Error("the owner could not read the config node");
  const session = adapter.sessionId();
  // The member to kill: the leader, or the one holding the owner's connection (from `cons`).
  const index = which === "leader" ? await ensemble.leaderIndex() : await ensemble.memberOfSession(session);
  if (index < 0) throw new Error("no member holds the owner's session");
  const killedAt = now();
  await ensemble.kill(index);
  await sleep(50);
  const back = await until(
    async () => adapter.connected() && adapter.sessionId() === session && (await adapter.getData(node)),
    sessionMs * 3,
  );
  const recoveredMs = back ? now() - killedAt : undefined;
  const stat = await reader.exists(node);
  await reader.setData(config, Buffer.from("v2"));
  await until(() => fired, 3000);
  ensemble.startMember(index);
  await ensemble.ready(30000);
  await reader.delete(config);
  const result = {
    pass: Boolean(back) && recoveredMs < sessionMs && stat?.ephemeralOwner === session && fired,
    recoveredMs,
    detail: `same session ${adapter.sessionId() === session}, node kept ${stat?.ephemeralOwner === session}, watch fired ${fired}`,
  };
  await adapter.close();
  return result;
}

async function faultEnsembleDown(ensemble, reader, makeAdapter) {
  const { adapter, node } = await owner(makeAdapter, reader, "down");
  const oldSession = adapter.sessionId();
  await ensemble.stopAll();
  await sleep(sessionMs * 1.5);
  const startedAt = now();
  ensemble.startAll();
  await ensemble.ready(30000);
  const readyMs = now() - startedAt;
  await reader.waitConnected(30000);
  // Either way is right: the restarted ensemble revived the session (its node stays) or the client
  // started a new one and re-created the node. Wrong: no live session owns the node.
  const recreated = await until(async () => {
    const stat = await reader.exists(node);
    const sid = adapter.sessionId();
    return stat && sid !== undefined && adapter.connected() && stat.ephemeralOwner === sid;
  }, 30000);
  const recoveredMs = recreated ? now() - startedAt : undefined;
  const stat = await reader.exists(node);
  const result = {
    pass: Boolean(recreated),
    recoveredMs,
    detail: `ensemble ready after ${Math.round(readyMs)} ms; events ${adapter.events.join(">")}; node owner ${stat ? (stat.ephemeralOwner === oldSession ? "old session" : "new session") : "none"}`,
  };
  await adapter.close();
  return result;
}

async function faultUnreachableAtStart(ensemble, reader, makeAdapter) {
  await ensemble.stopAll();
  const adapter = await makeAdapter();
  let threw;
  try {
    adapter.connect();
  } catch (error) {
    threw = error;
  }
  const node = "/bench/late";
  adapter.onNewSession(() => {
    adapter.createEphemeral(node).catch(() => {});
  });
  // A request made while nothing answers: does it settle by itself?
  const t0 = now();
  let requestMs;
  await within(adapter.getData("/bench"), 15000).then(
    () => {
      requestMs = now() - t0;
    },
    (error) => {
      requestMs = /still pending/.test(error.message) ? undefined : now() - t0;
    },
  );
  await sleep(Math.max(0, 1000));
  const startedAt = now();
  ensemble.startAll();
  await ensemble.ready(30000);
  const readyMs = now() - startedAt;
  await reader.waitConnected(30000);
  const up = await until(async () => adapter.connected() && (await reader.exists(node)), 30000);
  const result = {
    pass: !threw && Boolean(up) && requestMs !== undefined,
    recoveredMs: up ? now() - startedAt : undefined,
    detail: `ensemble ready after ${Math.round(readyMs)} ms; connect() ${threw ? `threw ${threw.message}` : "did not throw"}; a request with no server ${requestMs === undefined ? "was still pending after 15 s" : `settled after ${Math.round(requestMs)} ms`}`,
  };
  await adapter.close();
  return result;
}

async function faultPartition(reader, proxies, makeAdapter) {
  const { adapter, node } = await owner(makeAdapter, reader, "partition");
  const oldSession = adapter.sessionId();
  for (const proxy of proxies) proxy.partition();
  const cutAt = now();
  // The ensemble expires the session after its timeout: the node goes (seen by the reader).
  const gone = await until(async () => (await reader.exists(node)) === null, sessionMs * 3);
  const goneMs = now() - cutAt;
  await sleep(500);
  const reportedDuring = adapter.events.join(">");
  for (const proxy of proxies) proxy.heal();
  const healedAt = now();
  const recreated = await until(async () => {
    const stat = await reader.exists(node);
    const sid = adapter.sessionId();
    return (
      stat && sid !== undefined && sid !== oldSession && adapter.connected() && stat.ephemeralOwner === sid
    );
  }, 30000);
  const result = {
    pass: Boolean(gone) && Boolean(recreated),
    recoveredMs: recreated ? now() - healedAt : undefined,
    detail: `node gone ${gone ? `${Math.round(goneMs)} ms after the cut` : "never"}; events during the cut ${reportedDuring}; after heal ${adapter.events.join(">")}`,
  };
  await adapter.close();
  return result;
}

// --- main ---------------------------------------------------------------------------------------------

const ensemble = new ZooKeeperEnsemble();
process.on("exit", () => {
  for (const m of ensemble.members) m.child?.kill("SIGKILL");
});
await ensemble.start();
await ensemble.ready(60000);
const { ZooKeeperClient } = await import("../dist/discovery/zookeeper/index.js");
const reader = new ZooKeeperClient({
  servers: ensemble.servers,
  sessionTimeoutMs: 20000,
  requestTimeoutMs: 20000,
});
reader.start();
await reader.waitConnected(20000);
await reader.ensurePath("/bench");

// Candidates reach the ensemble through forwarders that can partition them; the reader goes direct.
const proxies = ensemble.servers.map((server) => new PartitionProxy(server));
const proxied = await Promise.all(proxies.map((proxy) => proxy.listen()));
const requireFrom = options.candidates ? createRequire(join(options.candidates, "package.json")) : undefined;
const adapters = {
  ours: () => oursAdapter(proxied),
  "node-zookeeper-client": () => nodeZookeeperClientAdapter(proxied, requireFrom),
  zookeeper: () => cClientAdapter(proxied, requireFrom),
};
const faults = [
  ["member the session is on killed", (make) => faultKill(ensemble, reader, make, "member")],
  ["leader killed", (make) => faultKill(ensemble, reader, make, "leader")],
  [
    `ensemble down ${(sessionMs * 1.5) / 1000} s (> session)`,
    (make) => faultEnsembleDown(ensemble, reader, make),
  ],
  ["ensemble unreachable at start", (make) => faultUnreachableAtStart(ensemble, reader, make)],
  [`client partitioned past the session`, (make) => faultPartition(reader, proxies, make)],
];

const rows = [];
for (const name of options.clients.split(",")) {
  const make = adapters[name];
  if (!make) throw new Error(`unknown client ${name}`);
  if (name !== "ours") {
    try {
      if (!requireFrom) throw new Error("no --candidates folder given");
      requireFrom(name);
    } catch (error) {
      rows.push([name, "(all)", "not run", "", `cannot load: ${error.message.split("\n")[0]}`]);
      continue;
    }
  }
  for (const [fault, run] of faults) {
    let result;
    try {
      result = await within(run(make), 120000);
    } catch (error) {
      result = { pass: false, recoveredMs: undefined, detail: `error: ${error.message}` };
    }
    // Leave the ensemble whole and reachable for the next fault whatever happened.
    for (const proxy of proxies) proxy.heal();
    ensemble.startAll();
    await ensemble.ready(30000);
    await reader.waitConnected(30000);
    const row = [
      name,
      fault,
      result.pass ? "pass" : "FAIL",
      result.recoveredMs === undefined ? "-" : `${Math.round(result.recoveredMs)} ms`,
      result.detail,
    ];
    console.error(row.join(" | "));
    rows.push(row);
  }
}
console.log(
  `\nZooKeeper clients under faults (3-server ensemble, Debian zookeeper, session ${sessionMs} ms, Node ${process.version})\n`,
);
console.log(markdownTable(["client", "fault", "result", "time to recover", "detail"], rows));
await reader.close();
for (const proxy of proxies) await proxy.close();
await ensemble.close();
process.exit(0);
