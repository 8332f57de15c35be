// Memory attackers, in plain JavaScript so that bench scripts (which import dist/) and their tests can run
// them: each holds server memory a different way until stopped, reconnecting and reopening what the server
// ends, and counts how the server answered. Used by bench/soak.mjs (all of them, alongside the legitimate
// load) and bench/memory-attacks.mjs (one at a time, with the server's RSS before, during and after).
//
// Every attacker: `start(port, options)` → `{ name, stats, stop() }`; stop() closes everything it opened.
import http2 from "node:http2";
import net from "node:net";
import { checkPath, checkRequestGrpc, envelope, grpcCheckOutcome, watchPath } from "./health-bytes.mjs";

const { NGHTTP2_REFUSED_STREAM } = http2.constants;
const grpcHead = {
  ":method": "POST",
  ":path": checkPath,
  "content-type": "application/grpc",
  te: "trailers",
};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function connect(port, options = {}) {
  return new Promise((resolve) => {
    const session = http2.connect(`http://127.0.0.1:${port}`, options);
    session.on("error", () => {});
    session.once("connect", () => resolve(session));
    session.once("close", () => resolve(session));
  });
}

/** Counts how a stream ended: grpc-status, RST_STREAM code, or the session going away. */
function watchOutcome(stream, stats, onClose) {
  let status;
  stream.on("response", (head) => {
    status ??= head["grpc-status"];
  });
  stream.on("trailers", (trailers) => {
    status = trailers["grpc-status"];
  });
  stream.on("error", () => {});
  stream.on("close", () => {
    if (status !== undefined) stats[`grpc-${status}`] = (stats[`grpc-${status}`] ?? 0) + 1;
    else if (stream.rstCode === NGHTTP2_REFUSED_STREAM) stats.refused++;
    else stats.reset++;
    onClose();
  });
}

/**
 * Keeps `connections` sessions with `streams` streams each open, made by `open(session)`; a stream the
 * server ends is reopened after `reopenMs`, a session it closes is reconnected.
 */
function streamHolder(name, port, { connections, streams, reopenMs = 50, sessionOptions }, open) {
  const stats = { opened: 0, refused: 0, reset: 0, sessions: 0 };
  let running = true;
  const sessions = new Set();
  // A stream slot: opens a stream, and another once the server ends it.
  const fill = (session) => {
    if (!running || session.destroyed || session.closed) return;
    let stream;
    try {
      stream = open(session);
    } catch {
      return;
    }
    stats.opened++;
    watchOutcome(stream, stats, () => {
      if (running) setTimeout(fill, reopenMs, session);
    });
  };
  async function keep() {
    while (running) {
      const session = await connect(port, sessionOptions);
      if (!session.destroyed && !session.closed) {
        stats.sessions++;
        sessions.add(session);
        const closed = new Promise((resolve) => session.once("close", resolve));
        for (let i = 0; i < streams; i++) fill(session);
        await closed;
        sessions.delete(session);
      }
      if (running) await sleep(reopenMs);
    }
  }
  const loops = Array.from({ length: connections }, keep);
  return {
    name,
    stats,
    async stop() {
      running = false;
      for (const session of sessions) session.destroy();
      await Promise.all(loops);
    },
  };
}

/**
 * Streams that each send `bytes` of a message announced as `claimed` bytes (default just under 4 MiB, the
 * default message limit) and never finish it: what the byte budgets are for.
 */
export function partialBodies(
  port,
  { connections = 2, streams = 100, bytes = 2 << 20, claimed, ...rest } = {},
) {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(claimed ?? (4 << 20) - 1, 1);
  const chunk = Buffer.alloc(16 * 1024, 0x61);
  return streamHolder("partial-bodies", port, { connections, streams, ...rest }, (session) => {
    const stream = session.request(grpcHead, { endStream: false });
    stream.write(head);
    let sent = 0;
    const pump = () => {
      while (sent < bytes && !stream.destroyed) {
        const n = Math.min(chunk.length, bytes - sent);
        sent += n;
        if (!stream.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
          stream.once("drain", pump);
          return;
        }
      }
    };
    pump();
    return stream;
  });
}

/** Streams that trickle a small request one byte every `gapMs`, never finishing it (slowloris on HTTP/2). */
export function slowBodies(port, { connections = 1, streams = 50, gapMs = 200, ...rest } = {}) {
  const message = envelope(Buffer.alloc(1000, 0x61));
  return streamHolder("slow-bodies", port, { connections, streams, ...rest }, (session) => {
    const stream = session.request(grpcHead, { endStream: false });
    let at = 0;
    const timer = setInterval(() => {
      // Never the last byte: the message must stay incomplete.
      if (stream.destroyed || at >= message.length - 1) return;
      stream.write(message.subarray(at, at + 1));
      at++;
    }, gapMs);
    stream.once("close", () => clearInterval(timer));
    return stream;
  });
}

/**
 * Watch streams on connections that advertise a window of 0 and never read: every status change the server
 * writes for them stays queued on its side.
 */
export function zeroWindowReaders(port, { connections = 2, streams = 100, ...rest } = {}) {
  const request = envelope(Buffer.alloc(0));
  return streamHolder(
    "zero-window-readers",
    port,
    { connections, streams, sessionOptions: { settings: { initialWindowSize: 0 } }, ...rest },
    (session) => {
      const stream = session.request({ ...grpcHead, ":path": watchPath }, { endStream: false });
      stream.end(request);
      stream.pause();
      return stream;
    },
  );
}

/** Streams whose header blocks are close to the 64 KiB list limit, held open without a body. */
export function headerFlood(port, { connections = 2, streams = 100, ...rest } = {}) {
  const headers = { ...grpcHead };
  for (let i = 0; i < 50; i++) headers[`x-flood-${i}`] = "v".repeat(1000);
  return streamHolder("header-flood", port, { connections, streams, ...rest }, (session) =>
    session.request(headers, { endStream: false }),
  );
}

/** Plain TCP connections that send the HTTP/2 preface and SETTINGS, then nothing; reopened when closed. */
export function idleConnections(port, { connections = 1000, reopenMs = 100 } = {}) {
  const preface = Buffer.concat([
    Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1"),
    Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
  ]);
  const stats = { opened: 0, closedByServer: 0 };
  const sockets = new Set();
  let running = true;
  const open = () => {
    if (!running) return;
    const socket = net.connect(port, "127.0.0.1");
    stats.opened++;
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("data", () => {});
    socket.on("connect", () => socket.write(preface));
    socket.on("close", () => {
      sockets.delete(socket);
      if (!running) return;
      stats.closedByServer++;
      setTimeout(open, reopenMs);
    });
  };
  for (let i = 0; i < connections; i++) open();
  return {
    name: "idle-connections",
    stats,
    async stop() {
      running = false;
      for (const socket of sockets) socket.destroy();
    },
  };
}

/** One gRPC Check on a fresh connection: undefined when answered SERVING, else what went wrong. */
export async function freshCheck(port, timeoutMs = 10_000) {
  const session = await connect(port);
  try {
    const stream = session.request(grpcHead, { endStream: false });
    const outcome = grpcCheckOutcome(stream);
    stream.end(checkRequestGrpc);
    let timer;
    const timedOut = new Promise((resolve) => {
      timer = setTimeout(() => resolve(undefined), timeoutMs);
    });
    const ended = await Promise.race([outcome, timedOut]);
    clearTimeout(timer);
    if (ended === undefined) return "timeout";
    const { status, bodyBytes, rstCode } = ended;
    return status === "0" && bodyBytes > 5 ? undefined : `check-${status ?? rstCode}`;
  } finally {
    session.destroy();
  }
}

/** The attackers by name, with the sizes of hardening issue 12. */
export const attackers = {
  "partial-bodies": partialBodies,
  "slow-bodies": slowBodies,
  "zero-window-readers": zeroWindowReaders,
  "header-flood": headerFlood,
  "idle-connections": idleConnections,
};
