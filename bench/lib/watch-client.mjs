// The client side of the watch fan-out bench, in its own process: opens N gRPC Health/Watch streams over
// ceil(N / per-connection) HTTP/2 connections, waits for every initial status, then on command times how long a
// flipped status takes to reach each watcher. `--client=raw` (default) uses the minimal frame-level client in
// h2-raw-client.mjs so the client's own cost stays out of the figures; `--client=node` uses node:http2.
// Speaks JSON lines like a server child: announces {ready} once all watchers are up.
import http2 from "node:http2";
import { createInterface } from "node:readline";
import { connectRaw, encodeHeaderBlock } from "./h2-raw-client.mjs";
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
const status = new Int8Array(watchers).fill(-1);
const arrival = new Float64Array(watchers).fill(Number.NaN);
let armed = -1;
let arrived = 0;
let onAllArrived;
let errors = 0;
let closing = false;
let firstError = "";
const sessions = [];
const requestHeaders = {
  ":method": "POST",
  ":path": watchPath,
  "content-type": "application/grpc",
  te: "trailers",
};

function onMessage(index, payload) {
  const value = decodeStatus(payload);
  const wasUnset = status[index] === -1;
  status[index] = value;
  if (wasUnset) initialArrived();
  if (value === armed && Number.isNaN(arrival[index])) {
    arrival[index] = now();
    if (++arrived === watchers) onAllArrived?.();
  }
}

let initialCount = 0;
let onAllInitial;
function initialArrived() {
  if (++initialCount === watchers) onAllInitial?.();
}

function noteError(text) {
  errors++;
  firstError ||= text;
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

function openStream(session, index) {
  const stream = session.request(requestHeaders);
  stream.on("data", (chunk) => onChunk(index, chunk));
  stream.on("trailers", (trailers) => {
    noteError(`watch ended: grpc-status ${trailers["grpc-status"]} ${trailers["grpc-message"] ?? ""}`);
  });
  stream.on("error", (error) => noteError(`stream error: ${error.message}`));
  stream.end(checkRequestGrpc);
}

async function openAll() {
  const started = now();
  const allInitial = new Promise((resolve) => {
    onAllInitial = resolve;
  });
  const connections = Math.ceil(watchers / perConnection);
  const headerBlock = encodeHeaderBlock({
    ":method": "POST",
    ":scheme": "http",
    ":authority": `127.0.0.1:${port}`,
    ":path": watchPath,
    "content-type": "application/grpc",
    te: "trailers",
  });
  for (let c = 0; c < connections; c++) {
    const first = c * perConnection;
    const last = Math.min(watchers, first + perConnection);
    if (clientKind === "raw") {
      // Stream ids 1, 3, 5… map to watcher first + (id - 1) / 2.
      const connection = connectRaw({
        port,
        onData: (streamId, payload) => onChunk(first + (streamId - 1) / 2, payload),
        onStreamEnd: (streamId, why) => noteError(`watch ${first + (streamId - 1) / 2} ended: ${why}`),
        onError: (error) => {
          if (!closing) noteError(`connection error: ${error.message}`);
        },
      });
      sessions.push({ destroy: () => connection.close() });
      for (let i = first; i < last; i++) connection.request(headerBlock, checkRequestGrpc);
      if (c % 10 === 9) await new Promise((resolve) => setImmediate(resolve));
      continue;
    }
    const session = http2.connect(`http://127.0.0.1:${port}`, { peerMaxConcurrentStreams: perConnection });
    session.on("error", (error) => noteError(`session error: ${error.message}`));
    sessions.push(session);
    for (let i = first; i < last; i++) openStream(session, i);
    // Let the event loop breathe every few connections so the server sees a ramp, not one burst.
    if (c % 10 === 9) await new Promise((resolve) => setImmediate(resolve));
  }
  const timeout = new Promise((resolve) => setTimeout(resolve, openTimeoutMs).unref());
  await Promise.race([allInitial, timeout]);
  return { openMs: now() - started, connections };
}

function reply(message) {
  process.stdout.write(JSON.stringify(message) + "\n");
}

function summary(t0Offset) {
  const latencies = [];
  for (let i = 0; i < watchers; i++) if (!Number.isNaN(arrival[i])) latencies.push(arrival[i] - t0Offset);
  const sorted = Float64Array.from(latencies).sort();
  return {
    received: sorted.length,
    firstMs: sorted.length ? sorted[0] : Number.NaN,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.length ? sorted[sorted.length - 1] : Number.NaN,
  };
}

const { openMs, connections } = await openAll();
createInterface({ input: process.stdin }).on("line", async (line) => {
  const command = JSON.parse(line);
  const { id } = command;
  if (command.cmd === "arm") {
    armed = statusNames.indexOf(command.status);
    arrived = 0;
    // Every watcher holds the previous status (flips alternate), so each must receive exactly one new message.
    arrival.fill(Number.NaN);
    reply({ id, armed: command.status });
  } else if (command.cmd === "t0") {
    // The server's flip time, on the same monotonic clock, as an offset from this process's base.
    const t0Offset = Number(BigInt(command.t0) - base) / 1e6;
    if (arrived < watchers) {
      const done = new Promise((resolve) => {
        onAllArrived = resolve;
      });
      await Promise.race([
        done,
        new Promise((resolve) => setTimeout(resolve, command.timeoutMs ?? 30000).unref()),
      ]);
      onAllArrived = undefined;
    }
    reply({ id, watchers, ...summary(t0Offset), errors, firstError });
  } else if (command.cmd === "exit") {
    closing = true;
    for (const session of sessions) session.destroy();
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
  connections,
  openMs,
  initialReceived: initialCount,
  initial,
  errors,
  firstError,
});
