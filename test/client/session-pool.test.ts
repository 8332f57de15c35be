import http2 from "node:http2";
import net from "node:net";
import t, { type Test } from "tap";
import { SessionPool } from "../../src/client/session-pool.ts";
import { connectFailureKind } from "../../src/client/transport-errors.ts";
import { Code } from "../../src/wire/code.ts";
import { RpcError } from "../../src/wire/rpc-error.ts";
import { listenLocal } from "../fixtures/start-server.ts";

const { NGHTTP2_CANCEL } = http2.constants;

const get = (path: string): http2.OutgoingHttpHeaders => ({ ":method": "POST", ":path": path });

/** An h2c server answering `/ok` at once and holding `/hold` open; it counts its sessions. */
async function startH2(t: Test) {
  const server = http2.createServer();
  const seen = { sessions: 0, cancelled: 0 };
  const sessions: http2.ServerHttp2Session[] = [];
  server.on("session", (session) => {
    seen.sessions++;
    sessions.push(session);
  });
  server.on("stream", (stream, headers) => {
    stream.on("error", () => {});
    stream.on("close", () => {
      if (stream.rstCode === NGHTTP2_CANCEL) seen.cancelled++;
    });
    if (headers[":path"] === "/hold") {
      stream.respond({ ":status": 200 });
      return;
    }
    stream.respond({ ":status": 200 });
    stream.end("ok");
  });
  const local = await listenLocal(server, t);
  return { ...local, seen, sessions };
}

/** Reads a stream to its end; resolves with its status. */
function answer(stream: http2.ClientHttp2Stream): Promise<number> {
  return new Promise((resolve, reject) => {
    let status = 0;
    stream.on("response", (headers) => {
      status = Number(headers[":status"]);
    });
    stream.on("error", reject);
    stream.on("close", () => resolve(status));
    stream.resume();
    stream.end();
  });
}

t.test("authorityOf: TLS by the URL or by the pool's options", async (t) => {
  const plain = new SessionPool();
  t.equal(plain.authorityOf(new URL("http://127.0.0.1:1/prefix")), "http://127.0.0.1:1");
  t.equal(plain.authorityOf(new URL("https://health.test:443")), "https://health.test");
  const tls = new SessionPool({ tls: {} });
  t.equal(tls.authorityOf(new URL("http://[::1]:8080")), "https://[::1]:8080");
});

t.test("one session per authority, reused, replaced after GOAWAY", async (t) => {
  const a = await startH2(t);
  const b = await startH2(t);
  const pool = new SessionPool();
  t.teardown(() => pool.close());
  const toA = pool.authorityOf(new URL(a.url));
  const toB = pool.authorityOf(new URL(b.url));
  t.equal(await answer(pool.request(toA, get("/ok"))), 200, "a queued stream goes out once connected");
  t.equal(await answer(await pool.requestConnected(toA, get("/ok"))), 200);
  await pool.connect(toA);
  t.equal(a.seen.sessions, 1, "one session for every stream to a");
  t.equal(await answer(pool.request(toB, get("/ok"))), 200);
  t.equal(b.seen.sessions, 1, "b has its own");

  const goaway = new Promise((resolve) => a.sessions[0]!.once("close", resolve));
  a.sessions[0]!.close();
  await goaway;
  t.equal(await answer(await pool.requestConnected(toA, get("/ok"))), 200, "a call after GOAWAY");
  t.equal(a.seen.sessions, 2, "on a new session");
});

t.test("connect timeout covers the server's SETTINGS", async (t) => {
  // Accepts TCP and never speaks HTTP/2.
  const silent = await listenLocal(
    net.createServer((socket) => socket.on("error", () => {})),
    t,
  );
  const pool = new SessionPool({ connectTimeoutMs: 100 });
  t.teardown(() => pool.close());
  const authority = pool.authorityOf(new URL(silent.url));
  const failure = await pool.connect(authority).catch((e: unknown) => e);
  t.ok(failure instanceof RpcError);
  t.equal((failure as RpcError).code, Code.Unavailable);
  t.equal(connectFailureKind(failure), "timeout", "no SETTINGS within the limit: a connect timeout");

  const queued = pool.request(authority, get("/ok"));
  const error = await new Promise((resolve) => queued.once("error", resolve));
  t.equal(connectFailureKind(error), "timeout", "a queued stream fails with the same error");
  t.ok(queued.closed || queued.destroyed);
});

t.test("a peer that hangs up before SETTINGS is a connection failure", async (t) => {
  const rude = await listenLocal(
    net.createServer((socket) => socket.end()),
    t,
  );
  const pool = new SessionPool();
  t.teardown(() => pool.close());
  const failure = await pool.connect(pool.authorityOf(new URL(rude.url))).catch((e: unknown) => e);
  t.equal((failure as RpcError).code, Code.Unavailable);
  t.equal(connectFailureKind(failure), "error");
});

t.test("close: GOAWAY, open streams cancelled (after a grace), no new streams", async (t) => {
  const server = await startH2(t);
  const pool = new SessionPool();
  const authority = pool.authorityOf(new URL(server.url));
  const held = await pool.requestConnected(authority, get("/hold"));
  held.on("error", () => {});
  await new Promise((resolve) => held.once("response", resolve));
  const ended = new Promise((resolve) => held.once("close", resolve));
  let finished = false;
  const closing = pool.close(50).then(() => {
    finished = true;
  });
  t.notOk(held.closed, "the stream runs on during the grace");
  await ended;
  await closing;
  t.ok(finished);
  t.equal(held.rstCode, NGHTTP2_CANCEL, "then it is cancelled");
  t.throws(() => pool.request(authority, get("/ok")), { code: Code.Unavailable, message: /client closed/ });
  await t.rejects(pool.connect(authority), { code: Code.Unavailable });
  await pool.close();
});

t.test("close while connecting: waiters fail at once", async (t) => {
  const silent = await listenLocal(
    net.createServer((socket) => socket.on("error", () => {})),
    t,
  );
  const pool = new SessionPool();
  const authority = pool.authorityOf(new URL(`https://127.0.0.1:${silent.port}`));
  const waiting = pool.requestConnected(authority, get("/ok"));
  await pool.close();
  await t.rejects(waiting, { code: Code.Unavailable, message: /client closed/ });
});

t.test("close between the handshake and the stream: UNAVAILABLE, not a dead session's error", async (t) => {
  const server = await startH2(t);
  const pool = new SessionPool();
  const authority = pool.authorityOf(new URL(server.url));
  // close() runs in the tick after the handshake, before the call's continuation (delayed by its signal).
  const closed = pool.connect(authority).then(() => pool.close());
  const call = pool.requestConnected(authority, get("/ok"), new AbortController().signal);
  await t.rejects(call, { code: Code.Unavailable, message: /client closed/ });
  await closed;
});

t.test("an aborted signal cancels the wait, not the session", async (t) => {
  const server = await startH2(t);
  const pool = new SessionPool();
  t.teardown(() => pool.close());
  const authority = pool.authorityOf(new URL(server.url));
  await t.rejects(pool.connect(authority, AbortSignal.abort()), { code: Code.Canceled });
  const controller = new AbortController();
  const waiting = pool.requestConnected(authority, get("/ok"), controller.signal);
  controller.abort();
  await t.rejects(waiting, { code: Code.Canceled });
  t.equal(await answer(await pool.requestConnected(authority, get("/ok"))), 200);
  t.equal(server.seen.sessions, 1);
});
