// Seeded fuzzing of a live TripleServer over real connections: random and mutated requests (HTTP/2 through
// node:http2 with random headers, bodies, splits, resets; raw HTTP/2 frames; raw HTTP/1.1 bytes with random
// splits), with a Check after every batch to prove the server still answers. Counts crashes (uncaught
// exceptions) and unhandled rejections in the process that hosts the server; exits 1 on any, on a failed
// liveness Check, or on watchers / streams left behind.
//
//   npm run fuzz -- --seconds=60 --seed=1234        (dist/, after the build npm run does)
//   node --import=@tapjs/typescript/import bench/fuzz.mjs --from=src --seconds=5   (src/, as the test does)
//
// The same seed replays the same sequence of requests (timing may still differ between runs).
import http2 from "node:http2";
import net from "node:net";
import { gzipSync } from "node:zlib";
import { parseOptions, usage } from "./lib/args.mjs";

const spec = {
  seconds: { default: 10, help: "how long to fuzz (the run also stops at --max-cases)" },
  seed: { default: 1, help: "PRNG seed: the same seed replays the same requests" },
  "max-cases": { default: 1_000_000, help: "stop after this many requests" },
  from: { default: "dist", help: "load the server from dist (built) or src (needs a TypeScript loader)" },
  json: { default: false, help: "print only the JSON summary line" },
};

// ---- seeded PRNG (mulberry32) ----

function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(next() * n);
  return {
    next,
    int,
    chance: (p) => next() < p,
    pick: (list) => list[int(list.length)],
    bytes: (n) => {
      const out = Buffer.alloc(n);
      for (let i = 0; i < n; i++) out[i] = int(256);
      return out;
    },
  };
}

// ---- request material ----

const services = [
  "grpc.health.v1.Health",
  "nope.Service",
  "grpc.health.v1",
  "",
  "a".repeat(300),
  "grpc.health.v1.Health/..",
];
const methods = ["Check", "Watch", "List", "check", "", "Nope", "Check/x"];
const contentTypes = [
  "application/grpc",
  "application/grpc+proto",
  "application/grpc+json",
  "application/grpc-web",
  "application/grpc-web+json",
  "application/grpc-web-text",
  "application/json",
  "application/json; charset=utf-8",
  "application/proto",
  "application/connect+json",
  "application/connect+proto",
  "text/plain",
  "application/grpc; charset=x",
  "",
  "application/json; charset=latin1",
];
const httpMethods = ["GET", "PUT", "OPTIONS", "HEAD", "DELETE", "BREW"];
const headerPool = [
  ["grpc-timeout", ["1m", "10S", "5m", "0n", "10", "-1S", "99999999H", "1x", "123456789S", "1u"]],
  ["grpc-encoding", ["gzip", "identity", "br", "deflate", "", "GZIP", "gzip, identity"]],
  ["grpc-accept-encoding", ["gzip", "br", "*"]],
  ["content-encoding", ["gzip", "br", "identity"]],
  ["connect-content-encoding", ["gzip", "br"]],
  ["triple-timeout-ms", ["10", "12345678901", "abc", "0", "5"]],
  ["tri-service-timeout", ["100", "-1", "99999999999"]],
  ["connect-timeout-ms", ["20", "x"]],
  ["triple-protocol-version", ["0.1.0", "9.9.9", ""]],
  ["tri-protocol-version", ["1.0.0", "2"]],
  ["connect-protocol-version", ["1", "2"]],
  ["x-trace-bin", ["AAEC", "!!!", "AAEC=", "=", "AA==,AQ=="]],
  ["x-user", ["alice", "\u00ff\u00fe", "x".repeat(2000)]],
  ["te", ["trailers"]],
  ["tri-service-group", ["g"]],
  ["origin", ["http://example.test"]],
  ["access-control-request-method", ["POST"]],
];

function varint(value) {
  const out = [];
  let v = value;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

function checkRequest(service) {
  const bytes = Buffer.from(service);
  return bytes.length === 0
    ? Buffer.alloc(0)
    : Buffer.concat([Buffer.from([0x0a]), varint(bytes.length), bytes]);
}

function envelope(flags, payload, length = payload.length) {
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(length >>> 0, 1);
  return Buffer.concat([head, payload]);
}

/** Flips, inserts, deletes or overwrites a few bytes. */
function mutate(r, input) {
  const bytes = [...input];
  const edits = 1 + r.int(4);
  for (let i = 0; i < edits; i++) {
    const at = bytes.length === 0 ? 0 : r.int(bytes.length);
    switch (r.int(5)) {
      case 0:
        if (bytes.length > 0) bytes[at] ^= 1 << r.int(8);
        break;
      case 1:
        bytes.splice(at, 0, r.int(256));
        break;
      case 2:
        bytes.splice(at, 1 + r.int(4));
        break;
      case 3:
        if (bytes.length > 0) bytes[at] = r.pick([0, 0xff, 0x7f, 0x80]);
        break;
      default:
        bytes.length = Math.max(0, bytes.length - 1 - r.int(8));
    }
  }
  return Buffer.from(bytes);
}

function payloadFor(r, type) {
  const service = r.chance(0.7)
    ? r.pick(["", "fuzz.Service", "nope"])
    : r.bytes(r.int(20)).toString("latin1");
  if (type.includes("json")) {
    const json = r.pick([
      JSON.stringify({ service }),
      "{}",
      '{"service":5}',
      "[]",
      '"x"',
      "{",
      "null",
      '{"service":"fuzz.Service","extra":{"a":[1,2]}}',
    ]);
    return r.chance(0.2) ? mutate(r, Buffer.from(json)) : Buffer.from(json);
  }
  const proto = checkRequest(service);
  return r.chance(0.3) ? mutate(r, proto) : proto;
}

function bodyFor(r, type) {
  let payload = payloadFor(r, type);
  let flags = 0;
  const gz = r.chance(0.15);
  if (gz) {
    payload = r.chance(0.2) ? mutate(r, gzipSync(payload)) : gzipSync(payload);
    flags = 1;
  }
  if (r.chance(0.05)) flags = r.int(256);
  const enveloped = type.includes("grpc") || type.includes("connect");
  let body;
  if (!enveloped) body = payload;
  else {
    const length = r.chance(0.1)
      ? r.pick([0xffffffff, 4 * 1024 * 1024 + 1, payload.length + 3, 0])
      : payload.length;
    body = envelope(flags, payload, length);
    if (r.chance(0.1)) body = Buffer.concat([body, envelope(0, payload)]);
  }
  if (type.includes("text")) body = Buffer.from(r.chance(0.8) ? body.toString("base64") : "%%%not base64");
  if (r.chance(0.1)) body = mutate(r, body);
  return { body, gz };
}

/** Cuts a buffer into 1–6 random pieces. */
function split(r, body) {
  const pieces = [];
  let at = 0;
  const count = 1 + r.int(6);
  for (let i = 0; i < count - 1 && at < body.length; i++) {
    const size = 1 + r.int(Math.max(1, Math.floor(body.length / 2)));
    pieces.push(body.subarray(at, at + size));
    at += size;
  }
  if (at < body.length) pieces.push(body.subarray(at));
  return pieces;
}

// ---- the three kinds of attack ----

/** A request through node:http2 with random head, body, splits, and sometimes a reset or no end. */
function h2Case(r, session) {
  return new Promise((resolve) => {
    const type = r.pick(contentTypes);
    const path = r.chance(0.6)
      ? `/grpc.health.v1.Health/${r.pick(["Check", "Watch", "List"])}`
      : r.chance(0.8)
        ? `/${r.pick(services)}/${r.pick(methods)}`
        : r.pick([
            "/",
            "*",
            "/%2e%2e/x",
            `/${r.bytes(8).toString("latin1")}`,
            "/grpc.health.v1.Health/Check?x=1",
          ]);
    const headers = { ":method": r.chance(0.9) ? "POST" : r.pick(httpMethods), ":path": path };
    if (type !== "" || r.chance(0.5)) headers["content-type"] = type;
    const extra = r.int(4);
    for (let i = 0; i < extra; i++) {
      const [name, values] = r.pick(headerPool);
      headers[name] = r.pick(values);
    }
    const { body, gz } = bodyFor(r, type);
    if (gz && headers["grpc-encoding"] === undefined && r.chance(0.8)) {
      headers["grpc-encoding"] = "gzip";
      headers["content-encoding"] = "gzip";
      headers["connect-content-encoding"] = "gzip";
    }
    const ending = r.pick(["end", "end", "end", "reset", "open", "reset-later"]);
    let stream;
    try {
      stream = session.request(headers, { endStream: false });
    } catch (error) {
      resolve(`client-refused:${error.code ?? "error"}`);
      return;
    }
    let outcome = "closed";
    const timer = setTimeout(
      () => stream.close(http2.constants.NGHTTP2_CANCEL),
      ending === "open" ? 50 : 250 + r.int(250),
    );
    stream.on("response", (head) => {
      outcome = head["grpc-status"] === undefined ? `http-${head[":status"]}` : `grpc-${head["grpc-status"]}`;
      if (ending === "reset-later") setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), r.int(20));
    });
    stream.on("trailers", (trailers) => {
      outcome = `grpc-${trailers["grpc-status"]}`;
    });
    let text = "";
    stream.on("data", (chunk) => {
      if (text.length < 512) text += chunk.toString("latin1");
    });
    stream.on("error", () => {});
    stream.on("close", () => {
      clearTimeout(timer);
      // A triple error body names its code: tell internal (expected for bad input) from unknown (an escaped bug).
      const code = /^http-[45]\d\d$/.test(outcome) ? /"code":"([a-z_]+)"/.exec(text)?.[1] : undefined;
      if (code !== undefined) outcome = `${outcome}:${code}`;
      resolve(stream.rstCode ? `${outcome}/rst-${stream.rstCode}` : outcome);
    });
    for (const piece of split(r, body)) stream.write(piece);
    if (ending === "reset")
      stream.close(r.pick([http2.constants.NGHTTP2_CANCEL, http2.constants.NGHTTP2_INTERNAL_ERROR]));
    else if (ending !== "open") stream.end();
  });
}

const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

function frame(type, flags, streamId, payload = Buffer.alloc(0)) {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

function literals(headers) {
  return Buffer.concat(
    headers.flatMap(([n, v]) => [
      Buffer.from([0, n.length]),
      Buffer.from(n),
      Buffer.from([v.length]),
      Buffer.from(v),
    ]),
  );
}

const requestBlock = literals([
  [":method", "POST"],
  [":scheme", "http"],
  [":path", "/grpc.health.v1.Health/Check"],
  [":authority", "127.0.0.1"],
  ["content-type", "application/grpc"],
]);

/** Raw bytes on a TCP socket: HTTP/2 frames (valid, mutated, random) or HTTP/1.1 text, randomly split. */
function rawCase(r, port) {
  let bytes;
  let kind;
  switch (r.int(4)) {
    case 0: {
      kind = "raw-h2";
      const frames = [preface, frame(0x4, 0, 0)];
      const count = 1 + r.int(5);
      for (let i = 0; i < count; i++) {
        const id = 1 + 2 * i;
        const f = r.pick([
          () => frame(0x1, 0x4, id, requestBlock),
          () => frame(0x0, 0x1, id, envelope(0, Buffer.alloc(0))),
          () => frame(0x3, 0, id, Buffer.from([0, 0, 0, 8])),
          () => frame(r.int(12), r.int(256), r.int(8), r.bytes(r.int(20))),
          () => frame(0x4, 0, 0, r.bytes(6 * r.int(3))),
          () => frame(0x8, 0, r.int(4), r.bytes(4)),
          () => frame(0x6, r.int(2), 0, r.bytes(8)),
        ])();
        frames.push(r.chance(0.3) ? mutate(r, f) : f);
      }
      bytes = Buffer.concat(frames);
      break;
    }
    case 1: {
      kind = "raw-h1";
      const body = '{"service":""}';
      const text = `POST /grpc.health.v1.Health/Check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
      bytes = r.chance(0.7) ? mutate(r, Buffer.from(text)) : Buffer.from(text);
      break;
    }
    case 2: {
      kind = "raw-h1-chunked";
      const body = envelope(0, Buffer.from('{"service":""}')).toString("latin1");
      const text = `POST /grpc.health.v1.Health/Watch HTTP/1.1\r\nHost: x\r\nContent-Type: application/connect+json\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
      bytes = r.chance(0.6) ? mutate(r, Buffer.from(text, "latin1")) : Buffer.from(text, "latin1");
      break;
    }
    default:
      kind = "raw-random";
      bytes = r.bytes(1 + r.int(200));
  }
  const pieces = split(r, bytes);
  const waitMs = 20 + r.int(80);
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    let got = 0;
    socket.on("error", () => {});
    socket.on("data", (chunk) => {
      got += chunk.length;
    });
    const timer = setTimeout(() => socket.destroy(), waitMs);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(`${kind}:${got > 0 ? "answered" : "silent"}`);
    });
    socket.on("connect", () => {
      for (const piece of pieces) socket.write(piece);
      if (r.chance(0.3)) socket.end();
    });
  });
}

async function liveness(port) {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on("error", () => {});
  try {
    return await new Promise((resolve) => {
      const stream = session.request(
        {
          ":method": "POST",
          ":path": "/grpc.health.v1.Health/Check",
          "content-type": "application/grpc",
          te: "trailers",
        },
        { endStream: false },
      );
      const timer = setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), 5000);
      let status;
      stream.on("trailers", (t) => {
        status = t["grpc-status"];
      });
      stream.on("response", (h) => {
        status ??= h["grpc-status"];
      });
      stream.on("data", () => {});
      stream.on("error", () => {});
      stream.on("close", () => {
        clearTimeout(timer);
        resolve(status === "0");
      });
      stream.end(envelope(0, Buffer.alloc(0)));
    });
  } finally {
    session.destroy();
  }
}

/**
 * Fuzzes a server on `port` (hosting grpc.health.v1.Health) for `seconds` or `maxCases` requests.
 * @returns {Promise<{cases: number, batches: number, livenessFailures: number, outcomes: Record<string, number>}>}
 */
export async function fuzz({ port, seconds, seed, maxCases }) {
  const r = prng(seed);
  const until = Date.now() + seconds * 1000;
  const outcomes = {};
  let cases = 0;
  let batches = 0;
  let livenessFailures = 0;
  while (Date.now() < until && cases < maxCases) {
    batches++;
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", () => {});
    const batch = [];
    const size = 1 + r.int(30);
    for (let i = 0; i < size && cases < maxCases; i++, cases++) {
      batch.push(r.chance(0.8) && !session.destroyed ? h2Case(r, session) : rawCase(r, port));
    }
    for (const outcome of await Promise.all(batch)) {
      const key = outcome.replace(/\/rst-\d+$/, "/rst");
      outcomes[key] = (outcomes[key] ?? 0) + 1;
    }
    session.destroy();
    if (!(await liveness(port))) livenessFailures++;
  }
  return { cases, batches, livenessFailures, outcomes };
}

async function main() {
  const options = parseOptions(spec);
  if (options.help) {
    process.stdout.write(usage("npm run fuzz -- [flags]: seeded fuzzing of a live server", spec));
    return 0;
  }
  let uncaught = 0;
  let unhandled = 0;
  const firstErrors = [];
  process.on("uncaughtException", (error) => {
    uncaught++;
    if (firstErrors.length < 5) firstErrors.push(String(error?.stack ?? error));
  });
  process.on("unhandledRejection", (error) => {
    unhandled++;
    if (firstErrors.length < 5) firstErrors.push(String(error?.stack ?? error));
  });
  const ext = options.from === "src" ? "ts" : "js";
  const base = new URL(`../${options.from}/`, import.meta.url);
  const { createTripleServer } = await import(new URL(`host/triple-server.${ext}`, base).href);
  const server = createTripleServer({ http1: { headersTimeout: 2000, keepAliveTimeout: 500 } });
  server.health.set("fuzz.Service", 1);
  const { port } = await server.listen(0, "127.0.0.1");
  const started = Date.now();
  const result = await fuzz({
    port,
    seconds: options.seconds,
    seed: options.seed,
    maxCases: options["max-cases"],
  });
  // Let resets and deadlines settle, then everything must be gone.
  const settleUntil = Date.now() + 5000;
  while ((server.health.watcherCount > 0 || server.handler.activeStreams > 0) && Date.now() < settleUntil) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const summary = {
    bench: "fuzz",
    seed: options.seed,
    seconds: Math.round((Date.now() - started) / 100) / 10,
    cases: result.cases,
    batches: result.batches,
    livenessChecks: result.batches,
    livenessFailures: result.livenessFailures,
    uncaughtExceptions: uncaught,
    unhandledRejections: unhandled,
    watchersLeft: server.health.watcherCount,
    streamsLeft: server.handler.activeStreams,
    outcomes: Object.fromEntries(Object.entries(result.outcomes).sort((a, b) => b[1] - a[1])),
    firstErrors,
  };
  await server.close({ graceMs: 0 });
  if (!options.json) {
    process.stderr.write(
      `fuzz: seed ${summary.seed}, ${summary.cases} requests in ${summary.seconds} s (${summary.batches} batches, a Check after each); ` +
        `liveness failures ${summary.livenessFailures}, uncaught ${uncaught}, unhandled rejections ${unhandled}, ` +
        `watchers left ${summary.watchersLeft}, streams left ${summary.streamsLeft}\n`,
    );
  }
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  const failed =
    uncaught + unhandled + summary.livenessFailures + summary.watchersLeft + summary.streamsLeft > 0;
  return failed ? 1 : 0;
}

if (import.meta.url === new URL(process.argv[1] ?? "", "file:").href) {
  process.exitCode = await main();
}
