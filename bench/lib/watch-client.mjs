// The client side of the watch fan-out bench, in its own process: opens N gRPC Health/Watch streams over
// ceil(N / per-connection) HTTP/2 connections, waits for every initial status, then on command times how long a
// flipped status takes to reach each watcher. `--client=raw` (default) uses the minimal frame-level client in
// h2-raw-client.mjs so the client's own cost stays out of the figures; `--client=node` uses node:http2.
// Speaks JSON lines like a server child: announces {ready} once all watchers are up.
//
// Churn (`churn` command): at a given rate, a random watcher's stream is cancelled (RST_STREAM CANCEL) and a
// new Watch opened in its place on the same connection, so that the number of open watchers stays N. A flip is
// timed over the stable watchers only: those whose stream had its initial status when the flip was armed and
// was not cancelled before the flipped status reached it.
import http2 from "node:http2";
import { createInterface } from "node:readline";
import { CANCEL, connectRaw, encodeHeaderBlock } from "./h2-raw-client.mjs";
import { checkRequestGrpc, decodeStatus, statusNames, watchPath } from "./health-bytes.mjs";
import { childFlag } from "./server-child.mjs";
import { percentile } from "./stats.mjs";

const port = Number(childFlag("port"));
const watchers = Number(childFlag("watchers", "1000"));
const perConnection = Number(childFlag("per-connection", "100"));
const openTimeoutMs = Number(childFlag("open-timeout-ms", "120000"));
const clientKind = childFlag("client", "raw");

const base = process.hrtime.bigint();
const now = () => Number(process.hrtime.bigint() - base) / 1e6; // ms since base, fractional

// Per watcher slot (a slot is one open Watch; churn replaces its stream, the slot stays).
/** Last status received on the slot's current stream (-1: none yet, or unreadable). */
const status = new Int8Array(watchers).fill(-1);
/** Whether the slot's current stream has had its first message. */
const initialised = new Uint8Array(watchers);
/** Arrival time of the armed status (NaN: not yet). */
const arrival = new Float64Array(watchers).fill(Number.NaN);
/** Left out of the current flip: not initialised when armed, or cancelled before the flip reached it. */
const excluded = new Uint8Array(watchers);
/** The slot's connection (index into `connections`) and its current stream (raw: id; node: the stream). */
const connectionOf = new Int32Array(watchers);
const streamOf = new Array(watchers);

let armed = -1;
let arrived = 0;
let excludedCount = 0;
let onFlipDone;
let uninitialised = watchers;
let onAllInitialised;
let errors = 0;
let closing = false;
let firstError = "";
/** Frames that came for a stream this client had already cancelled (ignored). */
let lateFrames = 0;
const connections = [];

function noteError(text) {
  errors++;
  firstError ||= text;
}

function onMessage(index, payload) {
  const value = decodeStatus(payload);
  status[index] = value;
  if (!initialised[index]) {
    initialised[index] = 1;
    if (--uninitialised === 0) onAllInitialised?.();
  }
  if (value === armed && !excluded[index] && Number.isNaN(arrival[index])) {
    arrival[index] = now();
    arrived++;
    checkFlipDone();
  }
}

function checkFlipDone() {
  if (arrived + excludedCount >= watchers) onFlipDone?.();
}

/** Bytes of an envelope split across DATA frames, per watcher (rare: messages are 7 bytes). */
const partial = new Map();
function onChunk(index, chunk) {
  const held = partial.get(index);
  let buffer = held ? Buffer.concat([held, chunk]) : chunk;
  if (held) partial.delete(index);
  while (buffer.length >= 5) {
    const length = buffer.readUInt32BE(1);
    if (buffer.length < 5 + length) break;
    onMessage(index, buffer.subarray(5, 5 + length));
    buffer = buffer.subarray(5 + length);
  }
  if (buffer.length > 0) partial.set(index, Buffer.from(buffer));
}

const requestHeaders = {
  ":method": "POST",
  ":path": watchPath,
  "content-type": "application/grpc",
  te: "trailers",
};
const headerBlock = encodeHeaderBlock({
  ":method": "POST",
  ":scheme": "http",
  ":authority": `127.0.0.1:${port}`,
  ":path": watchPath,
  "content-type": "application/grpc",
  te: "trailers",
});

/** One connection: `open(slot)` starts a Watch for the slot and returns its stream, `cancel(stream)` resets it. */
function connectRawWatch() {
  /** Stream id → slot, for the streams this connection has open. */
  const slots = new Map();
  const connection = connectRaw({
    port,
    onData: (streamId, payload) => {
      const slot = slots.get(streamId);
      if (slot === undefined) lateFrames++;
      else onChunk(slot, payload);
    },
    onStreamEnd: (streamId, why) => {
      const slot = slots.get(streamId);
      if (slot === undefined) lateFrames++;
      else noteError(`watch ${slot} (stream ${streamId}) ended: ${why}`);
    },
    onError: (error) => {
      if (!closing) noteError(`connection error: ${error.message}`);
    },
  });
  return {
    open(slot) {
      const streamId = connection.request(headerBlock, checkRequestGrpc);
      slots.set(streamId, slot);
      return streamId;
    },
    cancel(streamId) {
      slots.delete(streamId);
      connection.cancel(streamId, CANCEL);
    },
    destroy: () => connection.close(),
  };
}

function connectNodeWatch() {
  const session = http2.connect(`http://127.0.0.1:${port}`, { peerMaxConcurrentStreams: perConnection });
  session.on("error", (error) => {
    if (!closing) noteError(`session error: ${error.message}`);
  });
  return {
    open(slot) {
      const stream = session.request(requestHeaders);
      let cancelled = false;
      stream.on("data", (chunk) => {
        if (cancelled) lateFrames++;
        else onChunk(slot, chunk);
      });
      stream.on("trailers", (trailers) => {
        if (!cancelled)
          noteError(`watch ended: grpc-status ${trailers["grpc-status"]} ${trailers["grpc-message"] ?? ""}`);
      });
      stream.on("error", (error) => {
        if (!cancelled && !closing) noteError(`stream error: ${error.message}`);
      });
      stream.end(checkRequestGrpc);
      stream.cancelWatch = () => {
        cancelled = true;
        stream.close(http2.constants.NGHTTP2_CANCEL);
      };
      return stream;
    },
    cancel(stream) {
      stream.cancelWatch();
    },
    destroy: () => session.destroy(),
  };
}

async function openAll() {
  const started = now();
  const allInitial = new Promise((resolve) => {
    onAllInitialised = resolve;
  });
  const count = Math.ceil(watchers / perConnection);
  for (let c = 0; c < count; c++) {
    const connection = clientKind === "raw" ? connectRawWatch() : connectNodeWatch();
    connections.push(connection);
    const first = c * perConnection;
    const last = Math.min(watchers, first + perConnection);
    for (let i = first; i < last; i++) {
      connectionOf[i] = c;
      streamOf[i] = connection.open(i);
    }
    // Let the event loop breathe every few connections so the server sees a ramp, not one burst.
    if (c % 10 === 9) await new Promise((resolve) => setImmediate(resolve));
  }
  const timeout = new Promise((resolve) => setTimeout(resolve, openTimeoutMs).unref());
  await Promise.race([allInitial, timeout]);
  onAllInitialised = undefined;
  return { openMs: now() - started, connections: count };
}

/** Replaces slot i's stream by a new Watch on the same connection. */
function replace(i) {
  const connection = connections[connectionOf[i]];
  connection.cancel(streamOf[i]);
  partial.delete(i);
  if (initialised[i]) {
    initialised[i] = 0;
    uninitialised++;
  }
  status[i] = -1;
  if (!excluded[i] && Number.isNaN(arrival[i])) {
    excluded[i] = 1;
    excludedCount++;
  }
  streamOf[i] = connection.open(i);
  checkFlipDone();
}

// Churn: every tick, as many replacements as the rate asks for since the start (so a late tick catches up).
const churn = { rate: 0, startedMs: 0, stoppedMs: 0, done: 0, timer: undefined };
function startChurn(rate) {
  stopChurn();
  Object.assign(churn, { rate, startedMs: now(), stoppedMs: 0, done: 0 });
  churn.timer = setInterval(() => {
    const due = Math.floor(((now() - churn.startedMs) * churn.rate) / 1000) - churn.done;
    for (let k = 0; k < due; k++) replace(Math.floor(Math.random() * watchers));
    churn.done += Math.max(0, due);
  }, 5);
}
function stopChurn() {
  if (churn.timer === undefined) return;
  clearInterval(churn.timer);
  churn.timer = undefined;
  churn.stoppedMs = now();
}

/** Resolves once every slot's current stream has its first status, or after timeoutMs. */
async function allInitialised(timeoutMs) {
  if (uninitialised > 0)
    await Promise.race([
      new Promise((resolve) => {
        onAllInitialised = resolve;
      }),
      new Promise((resolve) => setTimeout(resolve, timeoutMs).unref()),
    ]);
  onAllInitialised = undefined;
  return uninitialised === 0;
}

function reply(message) {
  process.stdout.write(JSON.stringify(message) + "\n");
}

function summary(t0Offset) {
  const latencies = [];
  for (let i = 0; i < watchers; i++)
    if (!excluded[i] && !Number.isNaN(arrival[i])) latencies.push(arrival[i] - t0Offset);
  const sorted = Float64Array.from(latencies).sort();
  return {
    received: sorted.length,
    stable: watchers - excludedCount,
    excluded: excludedCount,
    firstMs: sorted.length ? sorted[0] : Number.NaN,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.length ? sorted[sorted.length - 1] : Number.NaN,
  };
}

const { openMs, connections: connectionCount } = await openAll();
createInterface({ input: process.stdin }).on("line", async (line) => {
  const command = JSON.parse(line);
  const { id } = command;
  if (command.cmd === "arm") {
    armed = statusNames.indexOf(command.status);
    arrived = 0;
    excludedCount = 0;
    // Every stable watcher holds the previous status (flips alternate), so each must receive exactly one new
    // message. A stream opened by churn that has not had its first status yet may get either: left out.
    arrival.fill(Number.NaN);
    for (let i = 0; i < watchers; i++) {
      excluded[i] = initialised[i] ^ 1;
      excludedCount += excluded[i];
    }
    reply({ id, armed: command.status, excluded: excludedCount });
  } else if (command.cmd === "t0") {
    // The server's flip time, on the same monotonic clock, as an offset from this process's base.
    const t0Offset = Number(BigInt(command.t0) - base) / 1e6;
    if (arrived + excludedCount < watchers) {
      const done = new Promise((resolve) => {
        onFlipDone = resolve;
      });
      await Promise.race([
        done,
        new Promise((resolve) => setTimeout(resolve, command.timeoutMs ?? 30000).unref()),
      ]);
      onFlipDone = undefined;
    }
    reply({ id, watchers, ...summary(t0Offset), errors, firstError });
  } else if (command.cmd === "churn") {
    startChurn(command.rate);
    reply({ id, churning: command.rate });
  } else if (command.cmd === "churn-stop") {
    stopChurn();
    // Each connection's last replacement having its first status means the server has taken in every
    // cancel sent before it on that connection.
    const settled = await allInitialised(command.timeoutMs ?? 30000);
    const ms = churn.stoppedMs - churn.startedMs;
    reply({
      id,
      churned: churn.done,
      ms,
      rate: (churn.done * 1000) / ms,
      settled,
      uninitialised,
      lateFrames,
      errors,
      firstError,
      clientRss: process.memoryUsage().rss,
    });
  } else if (command.cmd === "exit") {
    closing = true;
    for (const connection of connections) connection.destroy();
    process.exit(0);
  }
});
process.stdin.on("end", () => {
  closing = true;
  process.exit(0);
});
const initial = [0, 0, 0, 0];
for (const value of status) if (value >= 0) initial[value]++;
reply({
  ready: true,
  client: clientKind,
  watchers,
  connections: connectionCount,
  openMs,
  initialReceived: watchers - uninitialised,
  initial,
  errors,
  firstError,
  clientRss: process.memoryUsage().rss,
});
