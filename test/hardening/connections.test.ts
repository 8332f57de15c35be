// Hardening II item 4: connection exhaustion. There was no connection cap, and a connection that sent only
// the HTTP/2 preface (or nothing) was kept for emptySessionTimeoutMs (300 s) / headersTimeout (20 s): 20,000
// of them used every descriptor and a legitimate Check failed. Now a connection that opens no stream and
// sends no request head within firstRequestTimeoutMs is closed, and at maxConnections a new connection
// sheds the one idle longest, so a Check still gets through; busy connections are never shed.
import net from "node:net";
import t from "tap";
import { connectionDefaults } from "../../src/server/options.ts";
import { connect } from "../fixtures/h2-request.ts";
import { startServer } from "../fixtures/start-server.ts";
import {
  frame,
  goAwayCodes,
  grpcCheck,
  h1Check,
  openWatch,
  preface,
  rawExchange,
  sleep,
  waitFor,
} from "./fixtures/attack.ts";

const settingsFrame = frame(0x4, 0, 0);

t.test("defaults: 10,000 connections, 10 s to open a first stream or send a request head", async (t) => {
  t.same(connectionDefaults, {
    maxConnections: 10_000,
    firstRequestTimeoutMs: 10_000,
    // The byte budgets (budgets.test.ts).
    maxConnectionBufferedBytes: 16 * 1024 * 1024,
    maxProcessBufferedBytes: 256 * 1024 * 1024,
  });
});

t.test(
  "a preface-only HTTP/2 connection and a silent socket are closed after firstRequestTimeoutMs",
  async (t) => {
    const { port, server } = await startServer(t, { connections: { firstRequestTimeoutMs: 300 } });
    const started = Date.now();
    const [h2, silent, h1] = await Promise.all([
      rawExchange(port, [preface, settingsFrame], { timeoutMs: 4000 }),
      rawExchange(port, [], { timeoutMs: 4000 }),
      // Half a request head: node:http's headersTimeout (20 s) would keep it far longer.
      rawExchange(port, [Buffer.from("POST /grpc.health.v1.Health/Check HTTP/1.1\r\nhost: x\r\n")], {
        timeoutMs: 4000,
      }),
    ]);
    const elapsed = Date.now() - started;
    t.ok(h2.closedByServer, "preface-only HTTP/2 connection closed by the server");
    t.same(goAwayCodes(h2.data), [0], "with GOAWAY(NO_ERROR)");
    t.ok(silent.closedByServer, "silent socket closed by the server");
    t.ok(h1.closedByServer, "half an HTTP/1.1 head closed by the server");
    t.ok(elapsed < 3000, `within about the timeout (${elapsed} ms)`);
    t.ok(await waitFor(() => server.connections === 0), "no connection left");
    t.equal(await grpcCheck(port), 1, "a Check still answers SERVING");
  },
);

t.test("a connection that opened a stream is not closed by the first-request timeout", async (t) => {
  const { port } = await startServer(t, { connections: { firstRequestTimeoutMs: 200 } });
  const session = await connect(port);
  t.teardown(() => session.destroy());
  const watch = await openWatch(session);
  await sleep(600);
  t.notOk(watch.stream.closed, "the Watch stream is still open");
  t.notOk(session.destroyed, "and its connection");
});

t.test("at the cap: 300 idle connections shed, Checks over HTTP/2 and HTTP/1.1 still answered", async (t) => {
  const cap = 40;
  const { port, server } = await startServer(t, { connections: { maxConnections: cap } });
  // Busy connections: a Watch stream each. They are never the ones shed.
  const sessions = await Promise.all(Array.from({ length: 5 }, () => connect(port)));
  t.teardown(() => {
    for (const session of sessions) session.destroy();
  });
  const watches = await Promise.all(sessions.map((session) => openWatch(session)));
  const idle: net.Socket[] = [];
  t.teardown(() => {
    for (const socket of idle) socket.destroy();
  });
  let closedByServer = 0;
  for (let i = 0; i < 300; i++) {
    const socket = net.connect(port, "127.0.0.1");
    socket.on("error", () => {});
    socket.resume();
    socket.on("close", () => closedByServer++);
    // A mix: preface-only HTTP/2, silent sockets.
    socket.on("connect", () => {
      if (i % 2 === 0) socket.write(Buffer.concat([preface, settingsFrame]));
    });
    idle.push(socket);
    if (i % 50 === 49) await sleep(50);
  }
  t.ok(await waitFor(() => closedByServer >= 300 - (cap - 5)), `idle connections shed (${closedByServer})`);
  t.ok(server.connections <= cap, `${server.connections} connections open, at most ${cap}`);
  t.equal(await grpcCheck(port), 1, "an HTTP/2 Check at the cap answers SERVING");
  t.equal(await h1Check(port), 200, "an HTTP/1.1 Check at the cap is answered");
  t.ok(server.connections <= cap, `still at most ${cap} connections`);
  for (const watch of watches) t.notOk(watch.stream.closed, "a busy connection's Watch is still open");
});

t.test(
  "at the cap with every connection busy: the new connection is refused, the busy ones kept",
  async (t) => {
    const cap = 4;
    const { port, server } = await startServer(t, { connections: { maxConnections: cap } });
    const sessions = await Promise.all(Array.from({ length: cap }, () => connect(port)));
    t.teardown(() => {
      for (const session of sessions) session.destroy();
    });
    const watches = await Promise.all(sessions.map((session) => openWatch(session)));
    const refused = await rawExchange(port, [preface, settingsFrame], { timeoutMs: 2000 });
    t.ok(refused.closedByServer, "the extra connection is closed");
    t.equal(refused.data.length, 0, "without a byte written");
    t.equal(server.connections, cap, "the busy connections stay");
    for (const watch of watches) t.notOk(watch.stream.closed, "every Watch is still open");
    for (const session of sessions) session.destroy();
    t.ok(await waitFor(() => server.connections === 0), "all closed");
    t.equal(await grpcCheck(port), 1, "a Check answers SERVING once there is room");
  },
);
