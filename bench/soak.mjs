// Soak: our server (bench/servers/ours.mjs, default limits, in its own process with --expose-gc) under
// full load for --seconds (default 60): gRPC Checks on several HTTP/2 connections, triple JSON Checks over
// HTTP/1.1 keep-alive, and Watch churn (opened, held a moment, then dropped by RST_STREAM, deadline or
// connection close) while the watched status flips — and, unless --no-attacks, the memory attackers of
// bench/lib/attackers.mjs on connections of their own all along (partial 4 MiB bodies past the byte budgets,
// slow bodies, zero-window Watch readers, a header flood, idle connections). The server's heap and RSS are
// sampled (after a full GC) every second. Prints requests, errors, heap and RSS start/end/max; exits 1 on any
// error of the legitimate load, if the heap does not come back near its start, or if RSS is not flat: its end
// against its level once the load and the attacks have warmed up (the first --warmup-seconds).
//
//   npm run soak                        (60 s, dist/)
//   npm run soak -- --seconds=10        (shorter)
//   npm run soak -- --no-attacks        (the legitimate load alone)
import http from "node:http";
import http2 from "node:http2";
import { parseOptions, usage } from "./lib/args.mjs";
import { attackers } from "./lib/attackers.mjs";
import { startChild } from "./lib/children.mjs";
import {
  benchService,
  checkPath,
  checkRequestGrpc,
  checkRequestJson,
  envelope,
  grpcCheckOutcome,
  watchPath,
} from "./lib/health-bytes.mjs";

const spec = {
  seconds: { default: 60, help: "how long to load the server" },
  connections: { default: 4, help: "HTTP/2 connections for Checks" },
  streams: { default: 16, help: "concurrent Checks per HTTP/2 connection" },
  "h1-clients": { default: 4, help: "concurrent HTTP/1.1 keep-alive Check loops" },
  watchers: { default: 200, help: "Watch streams churning at once" },
  "heap-slack-mb": { default: 8, help: "allowed heap growth, end vs start (after GC), MiB" },
  attacks: { default: true, help: "run the memory attackers alongside the load" },
  "rss-slack-mb": { default: 48, help: "allowed RSS growth, end vs after the warm-up (after GC), MiB" },
  "warmup-seconds": {
    default: 20,
    help: "RSS is compared with its level this far in (at most a third of the run)",
  },
  from: { default: "dist", help: "load the server from dist (built) or src (needs a TypeScript loader)" },
};

const options = parseOptions(spec);
if (options.help) {
  process.stdout.write(`${usage("npm run soak -- [flags]: full load with Check and Watch churn", spec)}\n`);
  process.exit(0);
}

const counts = { checks: 0, h1Checks: 0, watches: 0, watchMessages: 0, flips: 0, errors: 0 };
const errorKinds = {};
function error(kind) {
  counts.errors++;
  errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
}

const server = startChild(new URL("./servers/ours.mjs", import.meta.url).pathname, {
  nodeArgs: ["--expose-gc"],
  inheritExecArgv: options.from === "src",
  args: [`--from=${options.from}`, "--max-streams=100", "--max-watchers=10000"],
});
const { h2: port } = await server.ready;
const until = Date.now() + options.seconds * 1000;
const running = () => Date.now() < until;

function connect() {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.once("connect", () => {
      session.on("error", () => {});
      resolve(session);
    });
    session.once("error", reject);
  });
}

async function grpcCheck(session) {
  let stream;
  try {
    stream = session.request(
      { ":method": "POST", ":path": checkPath, "content-type": "application/grpc", te: "trailers" },
      { endStream: false },
    );
  } catch {
    return "request-refused";
  }
  const outcome = grpcCheckOutcome(stream);
  stream.end(checkRequestGrpc);
  const { status, bodyBytes } = await outcome;
  return status === "0" && bodyBytes === 7 ? undefined : `check-grpc-${status ?? "none"}`;
}

async function checkLoop(session) {
  while (running()) {
    const problem = await grpcCheck(session);
    if (problem === undefined) counts.checks++;
    else error(problem);
  }
}

const agent = new http.Agent({ keepAlive: true, maxSockets: options["h1-clients"] });
function h1Check() {
  return new Promise((resolve) => {
    const request = http.request({
      host: "127.0.0.1",
      port,
      method: "POST",
      path: checkPath,
      agent,
      headers: { "content-type": "application/json", "content-length": checkRequestJson.length },
    });
    request.on("error", (e) => resolve(`h1-${e.code ?? "error"}`));
    request.on("response", (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk) => {
        body += chunk;
      });
      response.on("end", () =>
        resolve(
          response.statusCode === 200 && body.includes("SERVING") ? undefined : `h1-${response.statusCode}`,
        ),
      );
    });
    request.end(checkRequestJson);
  });
}

async function h1Loop() {
  while (running()) {
    const problem = await h1Check();
    if (problem === undefined) counts.h1Checks++;
    else error(problem);
  }
}

/** One Watch: opened, held 0–200 ms after its first message, dropped one of three ways. */
function watchOnce(session, way) {
  return new Promise((resolve) => {
    const headers = {
      ":method": "POST",
      ":path": watchPath,
      "content-type": "application/grpc",
      te: "trailers",
    };
    if (way === "deadline") headers["grpc-timeout"] = `${20 + Math.floor(Math.random() * 200)}m`;
    let stream;
    try {
      stream = session.request(headers, { endStream: false });
    } catch {
      resolve("watch-refused");
      return;
    }
    let messages = 0;
    let status;
    stream.on("trailers", (trailers) => {
      status = trailers["grpc-status"];
    });
    stream.on("response", (head) => {
      status ??= head["grpc-status"];
    });
    stream.on("data", () => {
      messages++;
      if (messages === 1 && way === "cancel") {
        setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), Math.random() * 200);
      }
    });
    stream.on("error", () => {});
    stream.on("close", () => {
      counts.watchMessages += messages;
      if (messages === 0) resolve(`watch-no-message-${status ?? stream.rstCode}`);
      else if (way === "deadline" && status !== "4") resolve(`watch-deadline-${status}`);
      else resolve(undefined);
    });
    stream.end(envelope(Buffer.from([0x0a, benchService.length, ...Buffer.from(benchService)])));
  });
}

async function watchLoop() {
  while (running()) {
    // Every 20th session is torn down with its Watch streams open.
    const session = await connect().catch(() => undefined);
    if (session === undefined) {
      error("watch-connect");
      continue;
    }
    const destroyAfter = Math.random() < 0.05;
    const batch = [];
    for (let i = 0; i < 10 && running(); i++)
      batch.push(watchOnce(session, Math.random() < 0.5 ? "cancel" : "deadline"));
    if (destroyAfter) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      session.destroy();
    }
    for (const problem of await Promise.all(batch)) {
      counts.watches++;
      // A destroyed session's streams end without status; that is the point of it.
      if (problem !== undefined && !destroyAfter) error(problem);
    }
    session.destroy();
  }
}

async function flipLoop() {
  let serving = true;
  while (running()) {
    serving = !serving;
    await server.request({ cmd: "set", status: serving ? "SERVING" : "NOT_SERVING" });
    counts.flips++;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await server.request({ cmd: "set", status: "SERVING" });
}

// Moderate sizes: each attack is well past what it is meant to test (16 MiB per connection for partial
// bodies), while leaving the two shared cores to the legitimate load.
const attackPlan = {
  "partial-bodies": { connections: 2, streams: 50, bytes: 1 << 20 },
  "slow-bodies": { connections: 1, streams: 20 },
  "zero-window-readers": { connections: 1, streams: 50 },
  "header-flood": { connections: 1, streams: 20 },
  "idle-connections": { connections: 200 },
};

const memStart = await server.request({ cmd: "mem" });
const heapStart = memStart.heapUsed;
let heapMax = heapStart;
let rssMax = memStart.rss;
const samples = [heapStart];
const rssSamples = [memStart.rss];
const warmupMs = Math.min(options["warmup-seconds"], options.seconds / 3) * 1000;
let rssWarm;
const sampler = (async () => {
  while (running()) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const mem = await server.request({ cmd: "mem" });
    samples.push(mem.heapUsed);
    rssSamples.push(mem.rss);
    heapMax = Math.max(heapMax, mem.heapUsed);
    rssMax = Math.max(rssMax, mem.rss);
    if (rssWarm === undefined && Date.now() - started >= warmupMs) rssWarm = mem.rss;
  }
})();

const started = Date.now();
const attacks = options.attacks
  ? Object.entries(attackPlan).map(([name, settings]) => attackers[name](port, settings))
  : [];
const sessions = await Promise.all(Array.from({ length: options.connections }, () => connect()));
const loops = [];
for (const session of sessions) for (let i = 0; i < options.streams; i++) loops.push(checkLoop(session));
for (let i = 0; i < options["h1-clients"]; i++) loops.push(h1Loop());
for (let i = 0; i < options.watchers / 10; i++) loops.push(watchLoop());
loops.push(flipLoop());
await Promise.all(loops);
await sampler;
await Promise.all(attacks.map((attack) => attack.stop()));
const elapsed = (Date.now() - started) / 1000;
for (const session of sessions) session.destroy();
agent.destroy();
// Let the server notice every reset and closed socket, then measure once more.
await new Promise((resolve) => setTimeout(resolve, 1000));
const memEnd = await server.request({ cmd: "mem" });
const heapEnd = memEnd.heapUsed;
const rssEnd = memEnd.rss;
heapMax = Math.max(heapMax, heapEnd);
rssMax = Math.max(rssMax, rssEnd);
rssWarm ??= rssEnd;
await server.stop();

const mib = (bytes) => Math.round((bytes / 1048576) * 10) / 10;
const requests = counts.checks + counts.h1Checks + counts.watches;
const result = {
  bench: "soak",
  from: options.from,
  seconds: Math.round(elapsed * 10) / 10,
  requests,
  rps: Math.round(requests / elapsed),
  grpcChecks: counts.checks,
  h1Checks: counts.h1Checks,
  watches: counts.watches,
  watchMessages: counts.watchMessages,
  flips: counts.flips,
  errors: counts.errors,
  errorKinds,
  heapStartMiB: mib(heapStart),
  heapEndMiB: mib(heapEnd),
  heapMaxMiB: mib(heapMax),
  heapSamplesMiB: samples.map(mib),
  rssStartMiB: mib(memStart.rss),
  rssWarmMiB: mib(rssWarm),
  rssEndMiB: mib(rssEnd),
  rssMaxMiB: mib(rssMax),
  rssSamplesMiB: rssSamples.map(mib),
  attacks: Object.fromEntries(attacks.map((attack) => [attack.name, attack.stats])),
};
process.stderr.write(
  `soak (${options.from}, ${result.seconds} s; the machine may be shared): ${requests} requests ` +
    `(${counts.checks} gRPC Checks, ${counts.h1Checks} HTTP/1.1 Checks, ${counts.watches} Watches with ${counts.watchMessages} messages, ` +
    `${counts.flips} status flips), ${counts.errors} errors; server heap after GC: start ${result.heapStartMiB} MiB, ` +
    `end ${result.heapEndMiB} MiB, max ${result.heapMaxMiB} MiB; server RSS after GC: start ${result.rssStartMiB} MiB, ` +
    `after warm-up ${result.rssWarmMiB} MiB, end ${result.rssEndMiB} MiB, max ${result.rssMaxMiB} MiB` +
    (attacks.length > 0
      ? `; attackers: ${attacks.map((a) => `${a.name} ${JSON.stringify(a.stats)}`).join(", ")}`
      : "") +
    "\n",
);
process.stdout.write(`${JSON.stringify(result)}\n`);
const grew = heapEnd - heapStart > options["heap-slack-mb"] * 1048576;
const rssGrew = rssEnd - rssWarm > options["rss-slack-mb"] * 1048576;
if (grew) process.stderr.write(`heap grew more than ${options["heap-slack-mb"]} MiB\n`);
if (rssGrew) process.stderr.write(`RSS grew more than ${options["rss-slack-mb"]} MiB after the warm-up\n`);
process.exitCode = counts.errors > 0 || grew || rssGrew ? 1 : 0;
