// Discovery at fleet size: N providers of one service key in a real 3-server ZooKeeper ensemble, each
// registered at both Dubbo levels (an interface URL, and an application instance whose MetadataServiceV2
// is a real server), half of them on ports nothing listens on (their metadata call fails, so only their
// interface URL lists them). Measures the time from start to the complete set, the consumer's memory for
// it, and what one provider joining costs (ZooKeeper reads and metadata calls, counted by discovery).
//
//   npm run build && node --expose-gc bench/discovery.mjs [--providers 1000] [--unreachable 0.5]
//
// The reachable providers are TripleServers in one child process (this file with --child), each on its
// own port with greet.GreetService (g1, 1.0.0) and MetadataServiceV2; the nodes are written by this
// process with our ZooKeeper client, as our registrar writes them.
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ZooKeeperEnsemble, zookeeperMissing } from "./lib/zookeeper-ensemble.mjs";

const self = fileURLToPath(import.meta.url);
const group = "g1";
const version = "1.0.0";
const service = "greet.GreetService";
const app = "bench-app";

if (process.argv[2] === "--child") await child(Number(process.argv[3]));
else await main();

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at < 0 ? fallback : Number(process.argv[at + 1]);
}

async function layouts() {
  return {
    ...(await import("../dist/discovery/dubbo/interface-url.js")),
    ...(await import("../dist/discovery/dubbo/metadata-info.js")),
    ...(await import("../dist/discovery/dubbo/service-instance.js")),
    ...(await import("../dist/discovery/dubbo/mapping.js")),
  };
}

/** N reachable providers in this process; prints one JSON line with their ports and revisions. */
async function child(count) {
  const { createTripleServer } = await import("../dist/host/triple-server.js");
  const { defineService } = await import("../dist/server/define-service.js");
  const { loadProtoFiles } = await import("../dist/codec/proto-files.js");
  const { createMetadataService, metadataServiceExport, metadataServiceName } = await import(
    "../dist/discovery/metadata-service.js"
  );
  const { buildMetadataInfo } = await layouts();
  const root = loadProtoFiles("greet.proto");
  const out = [];
  for (let i = 0; i < count; i++) {
    const server = createTripleServer({});
    const exported = { service, group, version, methods: ["Greet"] };
    server.addService(
      service,
      defineService(root, service, { Greet: async (r) => ({ greeting: `hi ${r.name}` }) }),
      {
        group,
        version,
      },
    );
    let info;
    server.addService(
      metadataServiceName,
      createMetadataService(() => info),
      metadataServiceExport(app),
    );
    const { port } = await server.listen(0, "127.0.0.1");
    info = buildMetadataInfo([exported], identity(port));
    out.push({ port, revision: info.version });
  }
  process.send(out);
  await new Promise(() => {});
}

function identity(port) {
  return { application: app, host: "127.0.0.1", port, release: "bench", pid: 1, timestamp: 1 };
}

async function freeUnusedPorts(count, taken) {
  // Ports above the ephemeral range's usual use, skipping those the child holds: nothing listens there.
  const out = [];
  for (let port = 61000; out.length < count; port++) if (!taken.has(port)) out.push(port);
  return out;
}

async function main() {
  const missing = zookeeperMissing();
  if (missing !== undefined) {
    console.error(`bench/discovery: ${missing}`);
    process.exit(1);
  }
  const total = option("providers", 1000);
  const reachable = Math.round(total * (1 - option("unreachable", 0.5)));
  const { ZooKeeperClient } = await import("../dist/discovery/zookeeper/index.js");
  const { ProviderDiscovery } = await import("../dist/discovery/provider-discovery.js");
  const L = await layouts();

  const ensemble = new ZooKeeperEnsemble({ size: 3 });
  const providersChild = fork(self, ["--child", String(reachable + 1)], { stdio: "inherit" });
  try {
    await ensemble.start();
    await ensemble.ready(60_000);
    const servers = await new Promise((resolve) => providersChild.once("message", resolve));
    const joiner = servers.pop();
    const taken = new Set(servers.map((s) => s.port));
    taken.add(joiner.port);
    const dead = (await freeUnusedPorts(total - reachable, taken)).map((port) => ({
      port,
      revision: `dead-${port}`,
    }));
    const all = [...servers, ...dead];

    const writer = new ZooKeeperClient({ servers: ensemble.servers });
    writer.start();
    await writer.waitConnected(20_000);
    const writeStart = performance.now();
    await writer.ensurePath(L.providersPath("dubbo", service));
    await writer.ensurePath(L.instancesPath(app));
    await writer.ensurePath("/dubbo/mapping");
    await writer.create(L.mappingPath("dubbo", service), Buffer.from(app), "persistent");
    const register = async ({ port, revision }) => {
      const url = L.buildProviderUrl({ service, group, version, methods: ["Greet"] }, identity(port));
      await writer.create(L.providerNodePath("dubbo", service, url), Buffer.alloc(0), "ephemeral");
      const json = L.buildInstanceJson({ app, host: "127.0.0.1", port, revision, registeredAt: Date.now() });
      await writer.create(L.instancePath(app, "127.0.0.1", port), Buffer.from(json), "ephemeral");
    };
    for (let i = 0; i < all.length; i += 200) await Promise.all(all.slice(i, i + 200).map(register));
    const writeMs = performance.now() - writeStart;

    global.gc?.();
    const before = process.memoryUsage();
    const reader = new ZooKeeperClient({ servers: ensemble.servers });
    const skipped = { count: 0 };
    const discovery = new ProviderDiscovery({
      client: reader,
      service,
      group,
      version,
      onEvent: (event) => {
        if (event.type === "skipped") skipped.count++;
      },
    });
    const start = performance.now();
    reader.start();
    discovery.start();
    const complete = await discovery.ready(120_000);
    const completeMs = performance.now() - start;
    const found = discovery.providers;
    const both = found.filter((p) => p.levels.length === 2).length;
    global.gc?.();
    const after = process.memoryUsage();
    const first = { ...discovery.stats };

    // One provider joins (both levels): what does it cost?
    const joinStart = performance.now();
    await register(joiner);
    const endpoint = `tri://127.0.0.1:${joiner.port}`;
    while (!discovery.providers.some((p) => p.endpoint === endpoint && p.levels.length === 2))
      await new Promise((resolve) => setTimeout(resolve, 2));
    const joinMs = performance.now() - joinStart;
    await new Promise((resolve) => setTimeout(resolve, 1000)); // anything late would show in the counts
    const retries = discovery.stats.metadataRetries - first.metadataRetries;
    const join = {
      reads: discovery.stats.reads - first.reads,
      // The unreachable instances' metadata calls are retried meanwhile (1 s doubling to 60 s): counted apart.
      metadataCalls: discovery.stats.metadataCalls - first.metadataCalls - retries,
    };

    const mib = (bytes) => `${(bytes / 1048576).toFixed(1)} MiB`;
    const lines = [
      `node ${process.version}, ${total} providers (${reachable} reachable, ${total - reachable} on ports nothing listens on), 3-server ensemble`,
      `nodes written (2 per provider + mapping): ${writeMs.toFixed(0)} ms`,
      `time to the complete set: ${completeMs.toFixed(0)} ms (ready=${complete}); providers found ${found.length}, at both levels ${both}, instances skipped ${skipped.count}`,
      `first read: ${first.reads} ZooKeeper reads, ${first.metadataCalls} metadata calls (${first.metadataRetries} of them retries of unreachable instances; ${first.metadataCacheHits} cache hits)`,
      `consumer memory for the set: heapUsed +${mib(after.heapUsed - before.heapUsed)}, rss +${mib(after.rss - before.rss)}${global.gc ? "" : " (run with --expose-gc for settled figures)"}`,
      `one provider joining: ${join.reads} reads, ${join.metadataCalls} metadata call(s), seen at both levels after ${joinMs.toFixed(0)} ms (meanwhile ${retries} retries of unreachable instances' metadata)`,
    ];
    console.log(lines.join("\n"));
    discovery.close();
    await reader.close();
    await writer.close();
  } finally {
    providersChild.kill("SIGKILL");
    await ensemble.close();
  }
}
