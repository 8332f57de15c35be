// The client against servers that misbehave, which a real ensemble never does on purpose: a server that
// never answers, answers out of order, announces a huge packet, refuses auth, or says the session
// expired. Each is a small node:net server speaking just enough of the protocol.
import net from "node:net";
import t from "tap";
import { ErrorCode } from "../../../src/discovery/zookeeper/errors.ts";
import { encodeFrame, FrameDecoder } from "../../../src/discovery/zookeeper/framing.ts";
import { JuteReader, JuteWriter } from "../../../src/discovery/zookeeper/jute.ts";
import { EventType, OpCode, Xid } from "../../../src/discovery/zookeeper/op-codes.ts";
import {
  readConnectRequest,
  writeReplyHeader,
  writeStat,
  writeWatcherEvent,
} from "../../../src/discovery/zookeeper/packets.ts";
import { nextState, rejection, sleep, startClient } from "../../fixtures/zookeeper-client.ts";

interface Peer {
  socket: net.Socket;
  /** Sends a reply header (and body) as one packet. */
  reply(xid: number, err: number, body?: (w: JuteWriter) => void, zxid?: bigint): void;
}

interface Script {
  /** The ConnectResponse's timeout (0: expired), or "silent" to never answer the ConnectRequest. */
  connect?: (request: ReturnType<typeof readConnectRequest>, count: number) => number | "silent";
  request?: (peer: Peer, xid: number, op: number, body: JuteReader) => void;
}

const stat = {
  czxid: 1n,
  mzxid: 1n,
  ctime: 0,
  mtime: 0,
  version: 0,
  cversion: 0,
  aversion: 0,
  ephemeralOwner: 0n,
  dataLength: 0,
  numChildren: 0,
  pzxid: 1n,
};

async function lyingServer(t: { teardown(fn: () => unknown): void }, script: Script) {
  const sockets = new Set<net.Socket>();
  const received: Array<{ xid: number; op: number }> = [];
  let connects = 0;
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    const decoder = new FrameDecoder();
    let handshaken = false;
    const peer: Peer = {
      socket,
      reply: (xid, err, body, zxid = 5n) => {
        const w = writeReplyHeader({ xid, zxid, err });
        body?.(w);
        socket.write(encodeFrame(w.finish()));
      },
    };
    socket.on("data", (chunk: Buffer) => {
      for (const packet of decoder.push(chunk)) {
        if (!handshaken) {
          handshaken = true;
          const request = readConnectRequest(packet);
          const timeout = script.connect?.(request, ++connects) ?? request.timeoutMs;
          if (timeout === "silent") continue;
          const w = new JuteWriter()
            .int(0)
            .int(timeout)
            .long(timeout === 0 ? 0n : 0x77n)
            .buffer(Buffer.alloc(16, 1))
            .bool(false);
          socket.write(encodeFrame(w.finish()));
          continue;
        }
        const reader = new JuteReader(packet);
        const xid = reader.int();
        const op = reader.int();
        received.push({ xid, op });
        if (op === OpCode.ping) peer.reply(Xid.ping, 0);
        else if (op === OpCode.closeSession) {
          peer.reply(xid, 0);
          socket.end();
        } else script.request?.(peer, xid, op, reader);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as net.AddressInfo;
  return { servers: [{ host: "127.0.0.1", port }], received, sockets, connects: () => connects };
}

t.test("a server that never answers the ConnectRequest: each attempt times out", async (t) => {
  const fake = await lyingServer(t, { connect: () => "silent" });
  const { client, logs } = startClient(t, {
    servers: fake.servers,
    connectTimeoutMs: 200,
    requestTimeoutMs: 900,
  });
  const { codeName } = await rejection(client.getData("/x"));
  t.equal(codeName, "CONNECTIONLOSS", "the request times out");
  t.ok(fake.connects() >= 2, `attempts repeat (${fake.connects()})`);
  t.match(logs, [
    { level: "warn", message: "zookeeper connection attempt failed", error: /no ConnectResponse in 200 ms/ },
  ]);
  t.equal(client.state, "connecting");
});

t.test("a port nobody listens on: attempts fail fast and back off, close() stops them", async (t) => {
  const fake = await lyingServer(t, {});
  const servers = fake.servers;
  await new Promise((resolve) => setTimeout(resolve, 0));
  const closed = net.createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const deadPort = (closed.address() as net.AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  const { client, logs } = startClient(t, { servers: [{ host: "127.0.0.1", port: deadPort }] });
  await sleep(500);
  const failures = logs.filter((l) => l.message === "zookeeper connection attempt failed").length;
  t.ok(failures >= 2 && failures < 50, `retried with a backoff (${failures} attempts in 500 ms)`);
  await client.close();
  const after = logs.length;
  await sleep(300);
  t.equal(logs.length, after, "no attempt after close()");
  t.ok(servers.length === 1);
});

t.test("the server says the session expired: expired, then a new session", async (t) => {
  const fake = await lyingServer(t, {
    // The first connect gets a session; the reconnect with it is told it expired; then a new one.
    connect: (request, count) => (count === 2 && request.sessionId !== 0n ? 0 : 4000),
    request: (peer, xid) => peer.reply(xid, 0, (w) => w.ustring("/e")),
  });
  const { client, states, logs } = startClient(t, { servers: fake.servers, sessionTimeoutMs: 4000 });
  await client.waitConnected(5000);
  t.equal(client.sessionId, 0x77n);
  const watched = client.getData("/w", () => {});
  await rejection(watched);
  const reconnected = nextState(client, "connected", 5000);
  for (const socket of fake.sockets) socket.destroy();
  const { newSession } = await reconnected;
  t.equal(newSession, true);
  t.same(
    states.map(([s]) => s),
    ["connecting", "connected", "disconnected", "expired", "connecting", "connected"],
  );
  t.match(logs, [{}, {}, { message: "zookeeper session expired" }]);
});

t.test(
  "replies out of xid order drop the connection; in-flight requests fail with CONNECTIONLOSS",
  async (t) => {
    const fake = await lyingServer(t, { request: (peer, xid) => peer.reply(xid + 5, 0) });
    const { client, logs } = startClient(t, { servers: fake.servers });
    await client.waitConnected(5000);
    const { codeName } = await rejection(client.delete("/x"));
    t.equal(codeName, "CONNECTIONLOSS");
    t.match(logs, [
      {},
      { message: "zookeeper connection lost", error: /reply xid \d+ while \d+ was expected/ },
    ]);
    await client.close();
  },
);

t.test("a huge length prefix drops the connection before anything is allocated", async (t) => {
  const fake = await lyingServer(t, {
    request: (peer) => peer.socket.write(Buffer.from("7fffffff", "hex")),
  });
  const { client, logs } = startClient(t, { servers: fake.servers, maxPacketBytes: 1024 });
  await client.waitConnected(5000);
  const { codeName } = await rejection(client.exists("/x"));
  t.equal(codeName, "CONNECTIONLOSS");
  t.match(logs, [
    {},
    { message: "zookeeper connection lost", error: /packet length 2147483647 is over the limit of 1024/ },
  ]);
  await client.close();
});

t.test("a reply whose body lies fails that request with MARSHALLINGERROR", async (t) => {
  const fake = await lyingServer(t, {
    request: (peer, xid, op) => {
      if (op === OpCode.getData) peer.reply(xid, 0, (w) => w.int(1000));
      else peer.reply(xid, 0, (w) => writeStat(w, stat));
    },
  });
  const { client } = startClient(t, { servers: fake.servers });
  await client.waitConnected(5000);
  const bad = await rejection(client.getData("/x"));
  t.equal(bad.codeName, "MARSHALLINGERROR");
  t.ok(await client.exists("/x"), "the connection goes on");
  await client.close();
});

t.test("a silent connection is declared lost after 2/3 of the session timeout", async (t) => {
  let silent = false;
  const fake = await lyingServer(t, {
    connect: () => 1500,
    request: (peer, xid) => {
      if (!silent) peer.reply(xid, 0, (w) => writeStat(w, stat));
    },
  });
  const { client, logs } = startClient(t, { servers: fake.servers, sessionTimeoutMs: 1500 });
  await client.waitConnected(5000);
  t.equal(client.negotiatedTimeoutMs, 1500);
  await sleep(1200);
  t.equal(client.state, "connected", "pings keep a quiet session alive");
  t.ok(
    fake.received.some((r) => r.op === OpCode.ping),
    "pings were sent",
  );
  for (const socket of fake.sockets) socket.pause();
  silent = true;
  const lost = nextState(client, "disconnected", 3000);
  const { atMs } = await lost;
  t.ok(atMs <= 2500, `lost after ${Math.round(atMs)} ms`);
  t.match(logs, [{}, { message: "zookeeper connection lost", error: /nothing read for 1000 ms/ }]);
  await client.close();
});

t.test(
  "a request sent and never answered rejects with REQUESTTIMEOUT; later replies still line up",
  async (t) => {
    let first = true;
    const held: number[] = [];
    const fake = await lyingServer(t, {
      request: (peer, xid) => {
        if (first) {
          first = false;
          held.push(xid);
          return;
        }
        // Answer the held request late, then this one: the client must discard the first.
        for (const h of held.splice(0)) peer.reply(h, 0, (w) => writeStat(w, stat));
        peer.reply(xid, 0, (w) => writeStat(w, stat));
      },
    });
    const { client } = startClient(t, { servers: fake.servers, requestTimeoutMs: 300 });
    await client.waitConnected(5000);
    const timedOut = await rejection(client.exists("/slow"));
    t.equal(timedOut.codeName, "REQUESTTIMEOUT");
    t.match(timedOut.message, /no answer within 300 ms/);
    t.ok(await client.exists("/next"), "the next request gets its own answer");
    t.equal(client.state, "connected");
    await client.close();
  },
);

t.test("auth and SetWatches refusals are logged; notifications of other kinds are ignored", async (t) => {
  let connection = 0;
  const fake = await lyingServer(t, {
    connect: () => {
      connection++;
      return 4000;
    },
    request: (peer, xid, op) => {
      if (op === OpCode.auth) peer.reply(Xid.auth, ErrorCode.AUTHFAILED);
      else if (op === OpCode.setWatches) peer.reply(Xid.setWatches, ErrorCode.SYSTEMERROR);
      else peer.reply(xid, 0, (w) => writeStat(w, stat));
    },
  });
  const throwing = { onLog: () => {} };
  const { client, logs } = startClient(t, {
    servers: fake.servers,
    auth: { user: "u", password: "p" },
    ...throwing,
  });
  client.onState(() => {
    throw new Error("a listener that throws");
  });
  await client.waitConnected(5000);
  let fired = 0;
  await client.exists("/w", () => fired++);
  for (const socket of fake.sockets) {
    const w = writeReplyHeader({ xid: Xid.notification, zxid: -1n, err: 0 });
    writeWatcherEvent(w, { type: 5, state: 3, path: "/w" });
    socket.write(encodeFrame(w.finish()));
  }
  // Reconnect so SetWatches is sent (the watch on /w is still armed).
  const back = nextState(client, "connected", 5000);
  for (const socket of fake.sockets) socket.destroy();
  t.equal((await back).newSession, false);
  await sleep(100);
  t.equal(fired, 0, "a removed-watch notice fires no callback");
  t.ok(connection >= 2);
  t.ok(logs.some((l) => l.message === "zookeeper auth refused"));
  t.ok(logs.some((l) => l.message === "zookeeper SetWatches refused"));
  t.ok(logs.some((l) => l.message === "a zookeeper state listener threw"));
  for (const socket of fake.sockets) {
    const w = writeReplyHeader({ xid: Xid.notification, zxid: -1n, err: 0 });
    writeWatcherEvent(w, { type: EventType.nodeCreated, state: 3, path: "/w" });
    socket.write(encodeFrame(w.finish()));
  }
  for (let i = 0; i < 20 && fired === 0; i++) await sleep(50);
  t.equal(fired, 1, "a real event fires the re-armed watch");
  await client.close();
});

t.test("a throwing logger does not break the session", async (t) => {
  const fake = await lyingServer(t, {});
  const { ZooKeeperClient } = await import("../../../src/discovery/zookeeper/index.ts");
  const client = new ZooKeeperClient({
    servers: fake.servers,
    onLog: () => {
      throw new Error("logger down");
    },
  });
  t.teardown(() => client.close());
  client.start();
  client.start();
  await client.waitConnected(5000);
  t.equal(client.state, "connected");
  const closing = client.close();
  t.equal(client.currentServer?.port, fake.servers[0]!.port, "still on its server while closing");
  await closing;
  await client.close();
  t.equal(client.currentServer, undefined);
});

t.test("pending requests are bounded: more reject at once with THROTTLEDOP", async (t) => {
  const fake = await lyingServer(t, { connect: () => "silent" });
  const { client } = startClient(t, { servers: fake.servers, maxPendingRequests: 3, requestTimeoutMs: 5000 });
  const pending = [client.exists("/a"), client.exists("/b"), client.exists("/c")].map(rejection);
  const extra = await rejection(client.exists("/d"));
  t.equal(extra.codeName, "THROTTLEDOP");
  t.match(extra.message, /3 requests are already pending/);
  await client.close();
  for (const p of pending) t.equal((await p).codeName, "CONNECTIONLOSS", "the pending ones end with close()");
});
