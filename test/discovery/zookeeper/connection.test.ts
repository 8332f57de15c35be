// One TCP connection to one member, against small node:net servers: what the session client relies on.
import net from "node:net";
import t from "tap";
import { ZooKeeperConnection } from "../../../src/discovery/zookeeper/connection.ts";
import { encodeFrame } from "../../../src/discovery/zookeeper/framing.ts";
import { newSessionPassword } from "../../../src/discovery/zookeeper/packets.ts";
import { hex } from "../../wire/fixtures/decode.ts";

async function server(t: { teardown(fn: () => unknown): void }, onSocket: (socket: net.Socket) => void) {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    onSocket(socket);
  });
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise((resolve) => srv.close(resolve));
  });
  return { host: "127.0.0.1", port: (srv.address() as net.AddressInfo).port };
}

const request = { lastZxidSeen: 0n, timeoutMs: 4000, sessionId: 0n, password: newSessionPassword };

t.test("a refused port rejects with CONNECTIONLOSS naming the server", async (t) => {
  const address = await server(t, () => {});
  const closed = net.createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const port = (closed.address() as net.AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  const error = await ZooKeeperConnection.open({ host: "127.0.0.1", port }, 1000, 1024).catch(
    (e: unknown) => e,
  );
  t.match(error, { codeName: "CONNECTIONLOSS", message: new RegExp(`127.0.0.1:${port}: .*ECONNREFUSED`) });
  t.ok(address.port > 0);
});

t.test("a truncated ConnectResponse rejects the handshake and closes the connection", async (t) => {
  const address = await server(t, (socket) =>
    socket.once("data", () => socket.write(encodeFrame(hex("0000")))),
  );
  const connection = await ZooKeeperConnection.open(address, 1000, 1024);
  const error = await connection.handshake(request, 1000).catch((e: unknown) => e);
  t.match(error, { codeName: "MARSHALLINGERROR" });
  let reason: Error | undefined;
  connection.onClose((e) => {
    reason = e;
  });
  t.match(
    reason?.message,
    /int needs 4 bytes/,
    "onClose on a closed connection is called at once, with the reason",
  );
  connection.send(hex("00"));
  connection.destroy();
});

t.test("a server that closes before answering rejects the handshake", async (t) => {
  const address = await server(t, (socket) => socket.once("data", () => socket.destroy()));
  const connection = await ZooKeeperConnection.open(address, 1000, 1024);
  const error = await connection.handshake(request, 1000).catch((e: unknown) => e);
  t.match(error, { codeName: "CONNECTIONLOSS", message: /closed before the ConnectResponse/ });
});

t.test(
  "a packet handler that throws drops the connection; unsubscribed close listeners are not called",
  async (t) => {
    const response = "00000000 00000fa0 0000000000000001 00000010 00000000000000000000000000000000 00";
    const address = await server(t, (socket) =>
      socket.once("data", () => {
        socket.write(encodeFrame(hex(response)));
        socket.write(Buffer.concat([encodeFrame(hex("01")), encodeFrame(hex("02"))]));
      }),
    );
    const connection = await ZooKeeperConnection.open(address, 1000, 1024);
    let unsubscribedCalled = false;
    const unsubscribe = connection.onClose(() => {
      unsubscribedCalled = true;
    });
    unsubscribe();
    const closed = new Promise<Error | undefined>((resolve) => connection.onClose(resolve));
    const seen: string[] = [];
    const answer = await connection.handshake(request, 1000);
    t.equal(answer.timeoutMs, 4000);
    connection.setPacketHandler((packet) => {
      seen.push(packet.toString("hex"));
      throw new Error("handler failed");
    });
    t.match((await closed)?.message, /handler failed/);
    t.same(
      seen,
      ["01"],
      "packets in the ConnectResponse chunk wait for the handler; none after a failing one",
    );
    t.notOk(unsubscribedCalled);
  },
);
