#!/usr/bin/env node
// Health-gated registration in ZooKeeper, measured on a real 3-server ensemble (Debian's zookeeper):
//   flips:    a status flip to the provider node deleted / created, as a second ZooKeeper client with a
//             children watch sees it (p50/p99 over --flips flips, alternating NOT_SERVING / SERVING);
//   exports:  listen() of a server with --exports exports to every node visible to that client;
//   soak:     --minutes N with a flip a second among 10 exports and an ensemble member restarted every
//             minute; at the end, nodes leaked (present, NOT_SERVING) and missing (SERVING, absent).
// The provider and the watching client run in this one process (one event loop): the figures include
// both sides' turns. Uses dist/ (npm run build).
//   node bench/registration.mjs [--flips 200] [--exports 100] [--minutes 0]
import { parseOptions } from "./lib/args.mjs";
import { percentile } from "./lib/stats.mjs";
import { ZooKeeperEnsemble, zookeeperMissing } from "./lib/zookeeper-ensemble.mjs";

const options = parseOptions({
  flips: { default: 200, help: "status flips timed" },
  exports: { default: 100, help: "exports registered at once" },
  minutes: { default: 0, help: "soak duration (0: no soak)" },
});
const missing = zookeeperMissing();
if (missing !== undefined) {
  console.error(`registration bench: ${missing}`);
  process.exit(1);
}
const { createTripleServer } = await import("../dist/host/triple-server.js");
const { ZooKeeperClient } = await import("../dist/discovery/zookeeper/index.js");
const { ServingStatus } = await import("../dist/codec/health-types.js");
const { providersPath } = await import("../dist/discovery/dubbo/interface-url.js");

const ensemble = new ZooKeeperEnsemble({ size: 3 });
await ensemble.start();
await ensemble.ready(60_000);
const registry = `zookeeper://${ensemble.connectString}?session=4000`;
const watcher = new ZooKeeperClient({ servers: ensemble.servers, sessionTimeoutMs: 10_000 });
watcher.start();
await watcher.waitConnected(10_000);

/** Resolves with the time (performance.now()) the watcher sees `path` with `count` children. */
function childrenCount(path, count) {
  return new Promise((resolve, reject) => {
    const look = () =>
      watcher
        .getChildren(path, () => look())
        .then((children) => {
          if (children.length === count) resolve(performance.now());
        })
        .catch((error) => {
          if (error.codeName !== "NONODE") return reject(error);
          if (count === 0) return resolve(performance.now());
          // Not created yet: an exists watch says when it is.
          watcher.exists(path, () => look()).then((stat) => stat !== null && look(), reject);
        });
    look();
  });
}

const stats = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return `p50 ${percentile(sorted, 50).toFixed(2)} ms, p99 ${percentile(sorted, 99).toFixed(2)} ms, max ${sorted.at(-1).toFixed(2)} ms (n=${sorted.length})`;
};

try {
  if (options.flips > 0) {
    const server = createTripleServer({ registry, application: "bench-flips", registerMode: "interface" });
    server.addService("bench.Flip", {});
    await server.listen(0);
    const path = providersPath("dubbo", "bench.Flip");
    await childrenCount(path, 1);
    const down = [];
    const up = [];
    for (let i = 0; i < options.flips; i++) {
      const serving = i % 2 === 1;
      const seen = childrenCount(path, serving ? 1 : 0);
      const start = performance.now();
      server.health.set("bench.Flip", serving ? ServingStatus.Serving : ServingStatus.NotServing);
      (serving ? up : down).push((await seen) - start);
    }
    console.log(`flip → node deleted: ${stats(down)}`);
    console.log(`flip → node created: ${stats(up)}`);
    console.log(`all ${options.flips} flips: ${stats([...down, ...up])}`);
    await server.close({ graceMs: 0 });
  }

  if (options.exports > 0) {
    const server = createTripleServer({ registry, application: "bench-exports" });
    for (let i = 0; i < options.exports; i++) server.addService(`bench.Export${i}`, {});
    const start = performance.now();
    await server.listen(0);
    const last = providersPath("dubbo", `bench.Export${options.exports - 1}`);
    await childrenCount(last, 1);
    await childrenCount("/services/bench-exports", 1);
    for (let i = 0; i < options.exports; i++)
      await childrenCount(providersPath("dubbo", `bench.Export${i}`), 1);
    const ms = performance.now() - start;
    console.log(`${options.exports} exports: every node visible ${ms.toFixed(0)} ms after listen()`);
    const closeStart = performance.now();
    await server.close({ graceMs: 0 });
    console.log(
      `${options.exports} exports: close() (unregister all) ${(performance.now() - closeStart).toFixed(0)} ms`,
    );
  }

  if (options.minutes > 0) {
    const count = 10;
    const server = createTripleServer({ registry, application: "bench-soak", registerMode: "interface" });
    for (let i = 0; i < count; i++) server.addService(`bench.Soak${i}`, {});
    await server.listen(0);
    const end = Date.now() + options.minutes * 60_000;
    let flips = 0;
    let restarts = 0;
    let nextRestart = Date.now() + 60_000;
    while (Date.now() < end) {
      const i = Math.floor(Math.random() * count);
      const now = server.health.get(`bench.Soak${i}`);
      server.health.set(
        `bench.Soak${i}`,
        now === ServingStatus.Serving ? ServingStatus.NotServing : ServingStatus.Serving,
      );
      flips++;
      if (Date.now() >= nextRestart) {
        const member = restarts % 3;
        ensemble.kill(member);
        await new Promise((resolve) => setTimeout(resolve, 2000));
        ensemble.startMember(member);
        restarts++;
        nextRestart += 60_000;
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    await ensemble.ready(60_000);
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    let leaked = 0;
    let absent = 0;
    for (let i = 0; i < count; i++) {
      const serving = server.health.get(`bench.Soak${i}`) === ServingStatus.Serving;
      let nodes = [];
      try {
        nodes = await watcher.getChildren(providersPath("dubbo", `bench.Soak${i}`));
      } catch {}
      if (!serving && nodes.length > 0) leaked += nodes.length;
      if (serving && nodes.length !== 1) absent += nodes.length === 0 ? 1 : 0;
      if (nodes.length > 1) leaked += nodes.length - 1;
    }
    console.log(
      `soak ${options.minutes} min: ${flips} flips, ${restarts} member restarts; nodes leaked ${leaked}, missing ${absent}`,
    );
    await server.close({ graceMs: 0 });
  }
} finally {
  await watcher.close();
  await ensemble.close();
}
