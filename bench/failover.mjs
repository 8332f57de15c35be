// Failover of the health-aware proxy under load: how long after an upstream turns NOT_SERVING new
// calls still reach it, and how many calls fail during a rolling drain of three upstreams — with
// one Watch stream per upstream, and again with a Check poll every second, side by side.
//
//   npm run build && node bench/failover.mjs
//
// Upstreams are child processes (this file with --child), so "restart" is a real new process on the
// same port. The proxy and a @grpc/grpc-js load generator run in this process. Each call carries its
// send time (x-sent-at, epoch ms from performance.timeOrigin + now(), comparable across processes);
// a drained upstream records the arrival of every call sent after its drain began: the failover time
// is the last such arrival minus the drain time (0 when none arrived).
//
// Env: FAILOVER_ROUNDS (rolling drains of all three, default 3), FAILOVER_CONCURRENCY (calls in
// flight, default 8), FAILOVER_WAIT_MS (drained → closed, default 1500), FAILOVER_POLL_MS (default 1000).
import { fork } from "node:child_process";
import os from "node:os";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { markdownTable } from "./lib/report.mjs";
import { median, percentile } from "./lib/stats.mjs";

const self = fileURLToPath(import.meta.url);
const epochNow = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

if (process.argv[2] === "--child") await runChild(process.argv[3], Number(process.argv[4] ?? 0));
else await main();

/** One upstream: greet.GreetService; on "drain" it turns NOT_SERVING and records late arrivals. */
async function runChild(id, port) {
  const { createTripleServer } = await import("../dist/host/triple-server.js");
  const { defineService } = await import("../dist/server/define-service.js");
  const { loadProtoFiles } = await import("../dist/codec/proto-files.js");
  const server = createTripleServer();
  let drainedAt;
  let lastNew;
  let newCalls = 0;
  let calls = 0;
  server.addService(
    "greet.GreetService",
    defineService(loadProtoFiles("greet.proto"), "greet.GreetService", {
      Greet: (request, call) => {
        calls++;
        if (drainedAt !== undefined) {
          const sentAt = Number(call.requestMetadata.get("x-sent-at")?.[0]);
          if (sentAt > drainedAt) {
            newCalls++;
            lastNew = epochNow();
          }
        }
        return { greeting: `hello ${request.name} from ${id}` };
      },
    }),
  );
  const address = await server.listen(port, "127.0.0.1");
  process.send({ type: "listening", port: address.port });
  process.on("message", async (message) => {
    if (message.type === "drain") {
      drainedAt = epochNow();
      server.health.drain("bench drain");
      process.send({ type: "drained" });
    } else if (message.type === "close") {
      const report = {
        type: "report",
        calls,
        newCalls,
        failoverMs: lastNew === undefined ? 0 : lastNew - drainedAt,
      };
      await server.close({ graceMs: 2000 });
      process.send(report, () => process.exit(0));
    }
  });
}

function startChild(id, port = 0) {
  const child = fork(self, ["--child", id, String(port)], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("message", (message) => resolve({ child, port: message.port }));
  });
}

function request(child, type, answer) {
  return new Promise((resolve) => {
    const onMessage = (message) => {
      if (message.type !== answer) return;
      child.off("message", onMessage);
      resolve(message);
    };
    child.on("message", onMessage);
    child.send({ type });
  });
}

async function waitFor(condition, ms) {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await sleep(10);
  }
  return true;
}

async function runMode(mode, settings) {
  const { createTripleProxy } = await import("../dist/host/triple-proxy.js");
  const ids = ["a", "b", "c"];
  const upstreams = await Promise.all(ids.map((id) => startChild(id)));
  const proxy = createTripleProxy({
    upstreams: upstreams.map((u) => `http://127.0.0.1:${u.port}`),
    service: "greet.GreetService",
    picker: {
      healthMode: mode,
      pollIntervalMs: settings.pollMs,
      backoff: { initialMs: 50, maxMs: 500 },
    },
  });
  await proxy.picker.ready();
  const { port } = await proxy.listen(0, "127.0.0.1");
  await waitFor(() => proxy.picker.healthyCount === 3, 15_000);

  const definition = protoLoader.loadSync(fileURLToPath(new URL("../proto/greet.proto", import.meta.url)));
  const Greet = grpc.loadPackageDefinition(definition).greet.GreetService;
  const client = new Greet(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const load = { ok: 0, failed: 0, codes: new Map(), running: true };
  const loop = async () => {
    while (load.running) {
      const metadata = new grpc.Metadata();
      metadata.set("x-sent-at", String(epochNow()));
      await new Promise((resolve) => {
        client.greet({ name: "bench" }, metadata, { deadline: Date.now() + 10_000 }, (error) => {
          if (error) {
            load.failed++;
            load.codes.set(error.code, (load.codes.get(error.code) ?? 0) + 1);
          } else load.ok++;
          resolve();
        });
      });
    }
  };
  const loops = Array.from({ length: settings.concurrency }, loop);
  await sleep(500);

  const samples = [];
  let lateCalls = 0;
  const started = Date.now();
  for (let round = 0; round < settings.rounds; round++) {
    for (let i = 0; i < upstreams.length; i++) {
      const { child, port: upstreamPort } = upstreams[i];
      await request(child, "drain", "drained");
      await sleep(settings.waitMs);
      const report = await request(child, "close", "report");
      await new Promise((resolve) => (child.exitCode === null ? child.once("exit", resolve) : resolve()));
      samples.push(report.failoverMs);
      lateCalls += report.newCalls;
      upstreams[i] = await startChild(ids[i], upstreamPort);
      if (!(await waitFor(() => proxy.picker.healthyCount === 3, 20_000))) {
        console.error(`${mode}: upstream ${ids[i]} not back after 20 s`);
      }
    }
  }
  const seconds = (Date.now() - started) / 1000;
  load.running = false;
  await Promise.all(loops);
  client.close();
  const stats = { ...proxy.stats, attempts: undefined };
  await proxy.close({ graceMs: 500 });
  for (const { child } of upstreams) {
    await request(child, "close", "report");
  }
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    mode,
    drains: samples.length,
    medianMs: median(sorted),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.at(-1),
    lateCalls,
    calls: load.ok + load.failed,
    callsPerSecond: (load.ok + load.failed) / seconds,
    failed: load.failed,
    codes: Object.fromEntries(load.codes),
    retried: stats.retried,
    unavailable: stats.unavailable,
  };
}

async function main() {
  const settings = {
    rounds: Number(process.env.FAILOVER_ROUNDS ?? 3),
    concurrency: Number(process.env.FAILOVER_CONCURRENCY ?? 8),
    waitMs: Number(process.env.FAILOVER_WAIT_MS ?? 1500),
    pollMs: Number(process.env.FAILOVER_POLL_MS ?? 1000),
  };
  console.log(
    `failover bench: Node ${process.version}, ${os.cpus().length} CPUs, load average ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")}; ` +
      `${settings.rounds} rolling drains of 3 upstreams, ${settings.concurrency} calls in flight, ` +
      `${settings.waitMs} ms drained before close, poll every ${settings.pollMs} ms`,
  );
  const results = [];
  for (const mode of ["watch", "poll"]) {
    const result = await runMode(mode, settings);
    results.push(result);
    console.log(JSON.stringify({ bench: "failover", ...result }));
  }
  const fmt = (ms) => (Number.isNaN(ms) ? "–" : ms.toFixed(1));
  console.log(
    markdownTable(
      [
        "health",
        "drains",
        "failover median ms",
        "failover p99 ms",
        "max ms",
        "new calls to drained",
        "calls",
        "calls/s",
        "failed",
        "retried by proxy",
      ],
      results.map((r) => [
        r.mode === "watch" ? "Watch stream" : `Check every ${settings.pollMs} ms`,
        String(r.drains),
        fmt(r.medianMs),
        fmt(r.p99Ms),
        fmt(r.maxMs),
        String(r.lateCalls),
        String(r.calls),
        r.callsPerSecond.toFixed(0),
        String(r.failed),
        String(r.retried),
      ]),
    ),
  );
  console.log(
    `load average after: ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")}`,
  );
}
