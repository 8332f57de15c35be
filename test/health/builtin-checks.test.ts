import { createServer as createHttpServer } from "node:http";
import { createServer } from "node:net";
import t from "tap";
import { eventLoopDelayCheck, heapCheck, httpCheck, tcpCheck } from "../../src/health/builtin-checks.ts";
import { listenLocal, unusedPort } from "../fixtures/start-server.ts";

const signal = () => new AbortController().signal;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Blocks the event loop `times` times for `ms` each, from timer callbacks, as a slow handler would. */
function blockLoop(times: number, ms: number): Promise<void> {
  return new Promise((resolve) => {
    let left = times;
    const block = () => {
      const until = Date.now() + ms;
      while (Date.now() < until) {
        // Busy on purpose.
      }
      if (--left > 0) setTimeout(block, 1);
      else setTimeout(resolve, 50);
    };
    setTimeout(block, 20);
  });
}

t.test("event-loop delay: fails after the loop was blocked", async (t) => {
  const probe = eventLoopDelayCheck({ maxDelayMs: 100, resolutionMs: 10 });
  t.equal(probe.name, "event-loop-delay");
  t.doesNotThrow(() => probe.run(signal()), "no samples yet: passes");
  await blockLoop(4, 250);
  t.throws(() => probe.run(signal()), /event loop delay p99 \d+\.\d ms is over 100 ms/);
  await probe.close?.();

  const worst = eventLoopDelayCheck({ maxDelayMs: 100, percentile: 100, name: "loop" });
  t.equal(worst.name, "loop");
  await blockLoop(1, 250);
  t.throws(() => worst.run(signal()), /p100/);
  await worst.close?.();

  const lenient = eventLoopDelayCheck({ maxDelayMs: 60_000 });
  await sleep(30);
  t.doesNotThrow(() => lenient.run(signal()));
  await lenient.close?.();
});

t.test("heap: ratio and byte limits", async (t) => {
  const usage = { used: 50, limit: 100 };
  const probe = heapCheck({ read: () => usage, maxRatio: 0.8 });
  t.equal(probe.name, "heap");
  t.doesNotThrow(() => probe.run(signal()));
  usage.used = 81;
  t.throws(() => probe.run(signal()), /heap use 0\.0 MiB is 81\.0% of 0\.0 MiB/);
  const bytes = heapCheck({ read: () => ({ used: 3 * 1048576, limit: 1e12 }), maxBytes: 2 * 1048576 });
  t.throws(() => bytes.run(signal()), /heap use 3\.0 MiB is over 2\.0 MiB/);
  // The real reading: this process is far from 100% of its heap limit.
  t.doesNotThrow(() => heapCheck({ maxRatio: 0.99, name: "real" }).run(signal()));
});

t.test("tcp: connects, fails when refused, stops on abort", async (t) => {
  const server = createServer((socket) => socket.destroy());
  const { port, close } = await listenLocal(server, t);
  const probe = tcpCheck({ host: "127.0.0.1", port });
  t.equal(probe.name, `tcp 127.0.0.1:${port}`);
  await t.resolves(async () => probe.run(signal()));

  const controller = new AbortController();
  const aborted = probe.run(controller.signal);
  controller.abort(new Error("stopped"));
  await t.rejects(aborted as Promise<void>, { message: "stopped" });
  await close();

  const refused = tcpCheck({ host: "127.0.0.1", port: await unusedPort(), name: "db" });
  t.equal(refused.name, "db");
  await t.rejects(refused.run(signal()) as Promise<void>, /ECONNREFUSED/);
});

t.test("http: 2xx/3xx pass, others fail, refused fails", async (t) => {
  const server = createHttpServer((req, res) => {
    const status = Number(req.url?.slice(1)) || 200;
    res.writeHead(status, { location: "/200" });
    res.end(req.method === "HEAD" ? undefined : "body that is read and dropped");
  });
  const { port, close } = await listenLocal(server, t);
  const base = `http://127.0.0.1:${port}`;
  const ok = httpCheck({ url: `${base}/200` });
  t.equal(ok.name, `http ${base}/200`);
  await t.resolves(async () => ok.run(signal()));
  await t.resolves(async () => httpCheck({ url: `${base}/302`, method: "HEAD" }).run(signal()));
  await t.rejects(async () => httpCheck({ url: new URL(`${base}/503`) }).run(signal()), /HTTP 503/);
  const strict = httpCheck({
    url: `${base}/204`,
    expectStatus: (s) => s === 200,
    headers: { "x-probe": "1" },
  });
  await t.rejects(async () => strict.run(signal()), /HTTP 204/);
  await close();
  const refused = httpCheck({ url: `http://127.0.0.1:${await unusedPort()}/`, name: "web" });
  t.equal(refused.name, "web");
  await t.rejects(async () => refused.run(signal()));
});
