// Envelope framing micro-benchmark: our EnvelopeDecoder / encoder side by side with the real
// decoders of @grpc/grpc-js and @connectrpc/connect, interleaved in one run so that a busy machine
// skews all three alike. Run with `npm run bench:wire` (builds first; imports ../dist/wire/index.js).
//
// Peers, and which of their routines is measured:
// - grpc-js: `StreamDecoder#write` (build/src/stream-decoder.js), what its server and client call on
//   every DATA chunk; encode: `BaseServerInterceptingCall#serializeMessage` (server-interceptors.js)
//   with an identity serializer, the framing its server does for every response.
// - connect-es 1.7: `transformSplitEnvelope` (exported from @connectrpc/connect/protocol), the async
//   generator every connect/gRPC/gRPC-Web handler and transport pipes the body through;
//   encode: `encodeEnvelope` from the same module.
// Ours: `EnvelopeDecoder` push()/next(); encode: `encodeEnvelope` (one buffer, payload copied) and
// `envelopeChunks` ("chunks": above 16 KiB a 5-byte header plus the payload by reference, no copy).
//
// Besides the implementations, "floor" rows time what every implementation pays anyway, so that a
// ratio can be read against it: walking the input chunks (decode); the empty loop, a bare
// Buffer.allocUnsafe of the output size, and allocUnsafe plus one copy of the payload (encode).
//
// Output: a table for people on stdout (progress on stderr), then one JSON line per case (`{"bench":"wire",...}`).
// Flags (`--help`): --ms, --rounds, --cases, --no-floors; or the environment variables
// WIRE_BENCH_MS, WIRE_BENCH_ROUNDS, WIRE_BENCH_CASES (WIRE_BENCH_FILTER is read as --cases too).

import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { PerformanceObserver } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseOptions, usage } from "./lib/args.mjs";

const spec = {
  ms: { default: 150, help: "length of one timed sample, in milliseconds" },
  rounds: { default: 5, help: "interleaved rounds per case; ops/s and ratios are their medians" },
  cases: { default: [], help: "comma-separated substrings of case names to run (all when empty)" },
  floors: { default: true, help: "add the floor rows (input walk, empty loop, bare allocation)" },
};
const env = process.env;
const options = parseOptions(spec, process.argv.slice(2), {
  BENCH_MS: env.WIRE_BENCH_MS,
  BENCH_ROUNDS: env.WIRE_BENCH_ROUNDS,
  BENCH_CASES: env.WIRE_BENCH_CASES ?? env.WIRE_BENCH_FILTER,
  BENCH_FLOORS: env.WIRE_BENCH_FLOORS,
});
if (options.help) {
  console.log(
    usage("npm run bench:wire -- [flags]: envelope framing, ours beside grpc-js and connect-es", spec),
  );
  console.log("Environment: WIRE_BENCH_MS, WIRE_BENCH_ROUNDS, WIRE_BENCH_CASES, WIRE_BENCH_FLOORS.");
  process.exit(0);
}

// Heap-per-op needs gc() and a young generation big enough that one sample does not trigger a GC.
if (typeof globalThis.gc !== "function") {
  const child = spawnSync(
    process.execPath,
    ["--expose-gc", "--max-semi-space-size=64", fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    { stdio: "inherit" },
  );
  process.exit(child.status ?? 1);
}

const { EnvelopeDecoder, encodeEnvelope, envelopeChunks } = await import("../dist/wire/index.js");
const require = createRequire(import.meta.url);
const { StreamDecoder } = require("@grpc/grpc-js/build/src/stream-decoder.js");
const { BaseServerInterceptingCall } = require("@grpc/grpc-js/build/src/server-interceptors.js");
const connectProtocol = require("@connectrpc/connect/protocol");

const sampleMs = options.ms;
const rounds = options.rounds;
const wanted = (name) => options.cases.length === 0 || options.cases.some((part) => name.includes(part));
const maxBytes = 4 * 1024 * 1024 + 64;

// Every loop sums what it saw into a local and hands it over once per pass, which keeps the work
// observable. (Adding to this module variable on every op, as an earlier version did, allocated a
// heap number per op on Node 20: 16 bytes and a few ns charged to every implementation.)
let sink = 0;
function keep(seen) {
  sink = (sink + seen) & 0x3fffffff;
}

// ---- decoders: each takes the chunks of one stream and returns the number of messages ----

function decodeOurs(chunks) {
  const decoder = new EnvelopeDecoder({ maxMessageBytes: maxBytes });
  let n = 0;
  let seen = 0;
  for (let i = 0; i < chunks.length; i++) {
    decoder.push(chunks[i]);
    let envelope = decoder.next();
    while (envelope !== undefined) {
      seen += envelope.payload.length + envelope.flags;
      n++;
      envelope = decoder.next();
    }
  }
  decoder.end();
  keep(seen);
  return n;
}

function decodeGrpcJs(chunks) {
  const decoder = new StreamDecoder(maxBytes);
  let n = 0;
  let seen = 0;
  for (let i = 0; i < chunks.length; i++) {
    const messages = decoder.write(chunks[i]);
    for (let j = 0; j < messages.length; j++) {
      seen += messages[j].length + messages[j][0];
      n++;
    }
  }
  keep(seen);
  return n;
}

async function decodeConnect(chunks) {
  let n = 0;
  let seen = 0;
  for await (const envelope of connectProtocol.transformSplitEnvelope(maxBytes)(chunks)) {
    seen += envelope.data.length + envelope.flags;
    n++;
  }
  keep(seen);
  return n;
}

// The floor of every decoder: reading each chunk once, as any decoder must. Returns the message
// count the case expects, which it does not compute.
function readChunks(chunks, count) {
  let seen = 0;
  for (let i = 0; i < chunks.length; i++) seen += chunks[i][0] + chunks[i].length;
  keep(seen);
  return count;
}

// ---- encoders: each encodes the list of payloads and returns the number of messages ----

function encodeOurs(payloads) {
  let seen = 0;
  for (let i = 0; i < payloads.length; i++) seen += encodeEnvelope(0, payloads[i]).length;
  keep(seen);
  return payloads.length;
}

function encodeOursChunks(payloads) {
  let seen = 0;
  for (let i = 0; i < payloads.length; i++) seen += envelopeChunks(0, payloads[i]).length;
  keep(seen);
  return payloads.length;
}

const grpcCall = { handler: { serialize: (value) => value } };
const grpcSerialize = BaseServerInterceptingCall.prototype.serializeMessage;
function encodeGrpcJs(payloads) {
  let seen = 0;
  for (let i = 0; i < payloads.length; i++) seen += grpcSerialize.call(grpcCall, payloads[i]).length;
  keep(seen);
  return payloads.length;
}

function encodeConnect(payloads) {
  let seen = 0;
  for (let i = 0; i < payloads.length; i++) seen += connectProtocol.encodeEnvelope(0, payloads[i]).length;
  keep(seen);
  return payloads.length;
}

// Floors of every encoder: the loop alone, the output's allocation alone (nothing written), and
// allocation plus one copy of the payload through Node's pool (no header).
function loopOnly(payloads) {
  let seen = 0;
  for (let i = 0; i < payloads.length; i++) seen += payloads[i].length;
  keep(seen);
  return payloads.length;
}

function allocateOnly(payloads) {
  let seen = 0;
  for (let i = 0; i < payloads.length; i++) seen += Buffer.allocUnsafe(payloads[i].length + 5).length;
  keep(seen);
  return payloads.length;
}

function allocateAndCopy(payloads) {
  let seen = 0;
  for (let i = 0; i < payloads.length; i++) {
    const out = Buffer.allocUnsafe(payloads[i].length + 5);
    out.set(payloads[i], 5);
    seen += out.length;
  }
  keep(seen);
  return payloads.length;
}

// ---- inputs ----

function payloadOf(size, seed) {
  const payload = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) payload[i] = (i * 31 + seed) & 0xff;
  return payload;
}

// Enough messages per stream that one pass takes a measurable time, without huge inputs.
function messagesFor(size, chunking) {
  if (chunking === "1b") return Math.max(4, Math.floor((32 * 1024) / (size + 5)));
  return Math.max(4, Math.min(10_000, Math.floor((4 * 1024 * 1024) / (size + 5))));
}

function streamOf(size, count) {
  const parts = [];
  for (let i = 0; i < count; i++) parts.push(encodeEnvelope(0, payloadOf(size, i)));
  return parts;
}

function chunk(parts, chunking) {
  if (chunking === "whole") return parts;
  const whole = Buffer.concat(parts);
  const step = chunking === "16k" ? 16 * 1024 : 1;
  const chunks = [];
  for (let at = 0; at < whole.length; at += step) chunks.push(whole.subarray(at, at + step));
  return chunks;
}

const sizes = [
  [0, "0 B"],
  [2, "2 B"],
  [1024, "1 KiB"],
  [64 * 1024, "64 KiB"],
  [1024 * 1024, "1 MiB"],
];

const cases = [];
for (const [size, label] of sizes) {
  for (const chunking of ["whole", "16k", "1b"]) {
    if (chunking === "1b" && size > 1024) continue;
    const count = messagesFor(size, chunking);
    const chunks = chunk(streamOf(size, count), chunking);
    // Walking the input is a visible share of the work only when every byte is its own chunk.
    const floors = chunking === "1b" ? [["floor: read each chunk", (input) => readChunks(input, count)]] : [];
    cases.push({
      name: `decode ${label} ${chunking === "whole" ? "one chunk per message" : chunking === "16k" ? "16 KiB chunks" : "1-byte chunks"}`,
      op: "decode",
      size,
      chunking,
      count,
      input: chunks,
      impls: [
        ["triple-health", decodeOurs],
        ["grpc-js", decodeGrpcJs],
        ["connect-es", decodeConnect],
        ...(options.floors ? floors : []),
      ],
    });
  }
  const count = messagesFor(size, "whole");
  const payloads = Array.from({ length: count }, (_, i) => payloadOf(size, i));
  cases.push({
    name: `encode ${label}`,
    op: "encode",
    size,
    chunking: "-",
    count,
    input: payloads,
    impls: [
      ["triple-health", encodeOurs],
      ["triple-health chunks", encodeOursChunks],
      ["grpc-js", encodeGrpcJs],
      ["connect-es", encodeConnect],
      ...(options.floors
        ? [
            ["floor: empty loop", loopOnly],
            ["floor: allocUnsafe only", allocateOnly],
            ["floor: allocUnsafe + copy", allocateAndCopy],
          ]
        : []),
    ],
  });
}

// ---- measurement ----

let gcCount = 0;
new PerformanceObserver((list) => {
  gcCount += list.getEntries().length;
}).observe({ entryTypes: ["gc"] });

async function runOnce(fn, input) {
  const n = fn(input);
  return typeof n === "number" ? n : await n;
}

// Messages per second over one sample of about `sampleMs`.
async function sample(fn, input) {
  // Start every sample from a collected heap, so that no implementation pays for another's garbage.
  globalThis.gc();
  let messages = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(sampleMs) * 1_000_000n;
  let now = start;
  do {
    messages += await runOnce(fn, input);
    now = process.hrtime.bigint();
  } while (now < deadline);
  return (messages * 1e9) / Number(now - start);
}

// Bytes allocated per message on the JS heap and outside it (ArrayBuffers), over one pass with no GC.
async function allocation(fn, input) {
  for (let attempt = 0; attempt < 3; attempt++) {
    globalThis.gc();
    globalThis.gc();
    // GC entries reach the observer asynchronously: let those of the forced GCs arrive first.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const gcBefore = gcCount;
    const before = process.memoryUsage();
    const n = await runOnce(fn, input);
    const after = process.memoryUsage();
    await new Promise((resolve) => setTimeout(resolve, 20));
    if (gcCount === gcBefore) {
      return {
        heap: Math.max(0, (after.heapUsed - before.heapUsed) / n),
        external: Math.max(0, (after.arrayBuffers - before.arrayBuffers) / n),
      };
    }
  }
  return { heap: Number.NaN, external: Number.NaN };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const results = [];
for (const c of cases) {
  if (!wanted(c.name)) continue;
  // Check the peers agree on the message count before timing anything.
  for (const [name, fn] of c.impls) {
    const n = await runOnce(fn, c.input);
    if (n !== c.count) throw new Error(`${c.name}: ${name} decoded ${n} of ${c.count} messages`);
  }
  for (const [, fn] of c.impls) await sample(fn, c.input); // warm up
  const rates = new Map(c.impls.map(([name]) => [name, []]));
  const ratios = new Map(c.impls.map(([name]) => [name, []]));
  for (let r = 0; r < rounds; r++) {
    // Rotate the order each round so no implementation always runs first.
    const order = c.impls.map((_, i) => c.impls[(i + r) % c.impls.length]);
    const round = new Map();
    for (const [name, fn] of order) round.set(name, await sample(fn, c.input));
    for (const [name, rate] of round) {
      rates.get(name).push(rate);
      ratios.get(name).push(round.get("triple-health") / rate);
    }
  }
  for (const [name, fn] of c.impls) {
    const opsPerSec = median(rates.get(name));
    const alloc = await allocation(fn, c.input);
    const row = {
      bench: "wire",
      case: c.name,
      op: c.op,
      payloadBytes: c.size,
      chunking: c.chunking,
      impl: name,
      opsPerSec: Math.round(opsPerSec),
      mbPerSec: Number(((opsPerSec * c.size) / 1e6).toFixed(1)),
      heapBytesPerOp: Number.isNaN(alloc.heap) ? null : Math.round(alloc.heap),
      externalBytesPerOp: Number.isNaN(alloc.external) ? null : Math.round(alloc.external),
      // Our ops/s divided by this implementation's, per interleaved round, median; null for our own rows.
      oursVsThis: name.startsWith("triple-health") ? null : Number(median(ratios.get(name)).toFixed(2)),
      rounds,
      sampleMs,
      node: process.version,
    };
    results.push(row);
    process.stderr.write(`${c.name} / ${name}: ${row.opsPerSec} ops/s\n`);
  }
}

// Human table.
const header = ["case", "impl", "ops/s", "MB/s", "heap B/op", "ext B/op", "ours ÷ this"];
const lines = results.map((r) => [
  r.case,
  r.impl,
  r.opsPerSec.toLocaleString("en-US"),
  String(r.mbPerSec),
  r.heapBytesPerOp === null ? "gc" : String(r.heapBytesPerOp),
  r.externalBytesPerOp === null ? "gc" : String(r.externalBytesPerOp),
  r.impl.startsWith("triple-health") ? "" : `${r.oursVsThis.toFixed(2)}x`,
]);
const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
const format = (cells) =>
  `| ${cells.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join(" | ")} |`;
console.log(`wire framing, ${process.version}, ${rounds} interleaved rounds of ${sampleMs} ms, median`);
console.log(format(header));
console.log(
  `|${widths.map((w, i) => (i < 2 ? `:${"-".repeat(w + 1)}` : `${"-".repeat(w + 1)}:`)).join("|")}|`,
);
for (const line of lines) console.log(format(line));
for (const r of results) console.log(JSON.stringify(r));
if (sink === 42) console.log(""); // keep the work observable
