// Detection of a vanished peer at the DEFAULT keepalive settings, measured rather than derived: how long after
// its path turns into a black hole (TCP open, every byte dropped) a client's Watch fails, and how long a server
// keeps a dead Watch client's watcher.
//
//   npm run build && node bench/keepalive-defaults.mjs [--clients 4] [--servers 3]
//
// The servers run in a child process (this file with --child): one `createTripleServer()` per server sample
// and one for the client samples, all with default options; the child reports each server's watcher count as
// it changes. Every sample goes through its own relay (bench/lib/tcp-partition.mjs), cut at a random moment
// after its Watch got its first status, so the cut falls anywhere in the keepalive cycle:
// - client samples: `createHealthClient(relay)` with default options (keepalive 10 s + 10 s), cut 1–13 s in;
//   measured until its Watch fails;
// - server samples: a client with keepalive off (only the server can notice), cut 1–30 s in; measured until
//   the child's server counts no watcher.
// "from last byte" counts from the last chunk the relay passed to the side that detects: the keepalive's
// documented bound counts from there (client 20–22.5 s, server 80–85 s), "from cut" from the black hole.
// Times are epoch ms from performance.timeOrigin + now(), comparable between the two processes.
import { fork } from "node:child_process";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { parseOptions } from "./lib/args.mjs";
import { markdownTable } from "./lib/report.mjs";
import { PartitionProxy } from "./lib/tcp-partition.mjs";

const self = fileURLToPath(import.meta.url);
const epochNow = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

if (process.argv[2] === "--child") await runChild(Number(process.argv[3]));
else await main();

/** `count` servers with default options; each one's watcher count reported on every change. */
async function runChild(count) {
  const { createTripleServer } = await import("../dist/host/triple-server.js");
  const servers = [];
  for (let i = 0; i < count; i++) {
    const server = createTripleServer();
    const { port } = await server.listen(0, "127.0.0.1");
    servers.push({ server, port, watchers: 0 });
  }
  process.send({ type: "listening", ports: servers.map((s) => s.port) });
  setInterval(() => {
    for (const entry of servers) {
      const watchers = entry.server.health.watcherCount;
      if (watchers !== entry.watchers) {
        entry.watchers = watchers;
        process.send({ type: "watchers", port: entry.port, watchers, at: epochNow() });
      }
    }
  }, 20);
  process.on("message", async (message) => {
    if (message.type === "exit") {
      await Promise.all(servers.map(({ server }) => server.close({ graceMs: 0 }).catch(() => {})));
      process.exit(0);
    }
  });
}

async function main() {
  const options = parseOptions({
    clients: { default: 4, help: "client-side samples (default keepalive)" },
    servers: { default: 3, help: "server-side samples (client keepalive off)" },
  });
  if (options.help) {
    console.log("node bench/keepalive-defaults.mjs [--clients 4] [--servers 3]");
    return;
  }
  const { createHealthClient } = await import("../dist/client/health-client.js");
  const child = fork(self, ["--child", String(options.servers + 1)], { stdio: "inherit" });
  const listening = await new Promise((resolve) =>
    child.on("message", (message) => message.type === "listening" && resolve(message)),
  );
  const watcherWaiters = new Map();
  child.on("message", (message) => {
    if (message.type === "watchers" && message.watchers === 0) watcherWaiters.get(message.port)?.(message.at);
  });
  const [clientPort] = listening.ports.slice(-1);
  const serverPorts = listening.ports.slice(0, -1);
  const started = new Date().toISOString();
  const load = [];
  const loadTimer = setInterval(() => load.push(os.loadavg()[0]), 5_000);

  async function clientSample(index) {
    const relay = new PartitionProxy({ host: "127.0.0.1", port: clientPort });
    const { port } = await relay.listen();
    const client = createHealthClient(`127.0.0.1:${port}`);
    try {
      const watch = client.watch("");
      await watch.next();
      await sleep(1_000 + Math.random() * 12_000);
      relay.partition();
      const cutAt = epochNow();
      const error = await watch.next().then(
        () => new Error("the Watch went on"),
        (e) => e,
      );
      const at = epochNow();
      return {
        sample: `client ${index + 1}`,
        fromCut: at - cutAt,
        fromLastByte: at - relay.lastToClientAt,
        outcome: `code ${error.code}: ${error.message}`,
      };
    } finally {
      await client.close();
      await relay.close();
    }
  }

  async function serverSample(index) {
    const target = serverPorts[index];
    const relay = new PartitionProxy({ host: "127.0.0.1", port: target });
    const { port } = await relay.listen();
    const client = createHealthClient(`127.0.0.1:${port}`, { keepaliveTimeMs: 0 });
    try {
      const freed = new Promise((resolve) => watcherWaiters.set(target, resolve));
      const controller = new AbortController();
      const watch = client.watch("", { signal: controller.signal });
      await watch.next();
      await sleep(1_000 + Math.random() * 29_000);
      relay.partition();
      const cutAt = epochNow();
      const at = await freed;
      controller.abort();
      return {
        sample: `server ${index + 1}`,
        fromCut: at - cutAt,
        fromLastByte: at - relay.lastToServerAt,
        outcome: "watcher released",
      };
    } finally {
      await client.close();
      await relay.close();
    }
  }

  const results = await Promise.all([
    ...Array.from({ length: options.clients }, (_, i) => clientSample(i)),
    ...Array.from({ length: options.servers }, (_, i) => serverSample(i)),
  ]);
  clearInterval(loadTimer);
  child.send({ type: "exit" });
  console.log(
    `Node ${process.version}, ${os.cpus().length} CPUs, ${started} to ${new Date().toISOString()}, ` +
      `load average (1 min) ${Math.min(...load).toFixed(1)}–${Math.max(...load).toFixed(1)}`,
  );
  console.log(
    markdownTable(
      ["sample", "from cut, s", "from last byte, s", "outcome"],
      results.map((r) => [
        r.sample,
        (r.fromCut / 1000).toFixed(2),
        (r.fromLastByte / 1000).toFixed(2),
        r.outcome,
      ]),
    ),
  );
}
