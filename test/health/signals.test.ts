import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import t from "tap";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { HealthRegistry } from "../../src/health/registry.ts";
import { installSignalHandlers } from "../../src/health/signals.ts";
import { startNode } from "../fixtures/node-process.ts";

const { Serving, NotServing } = ServingStatus;

const protoPath = fileURLToPath(new URL("../../proto/health.proto", import.meta.url));
const loaded = grpc.loadPackageDefinition(
  protoLoader.loadSync(protoPath, { keepCase: true, enums: String, defaults: true }),
) as unknown as { grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } } };
type WatchStub = grpc.Client & {
  watch(request: { service: string }): grpc.ClientReadableStream<{ status: string }>;
};

/** The child's stdout: one JSON object a line. */
const jsonLines = (stdout: string): Array<Record<string, unknown>> =>
  stdout
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, unknown>);

t.test("SIGTERM in a child process: drain, delay, graceful close, exit 0", async (t) => {
  const delayMs = 300;
  const child = startNode(t, ["test/fixtures/health-sigterm.ts", String(delayMs)], { stderr: "inherit" });
  await child.line(/"ready":true/);
  t.equal(await child.stop("SIGTERM"), 0, "exit code 0");
  const lines = jsonLines(child.stdout);
  const steps = lines.slice(1).map(({ at: _at, ...rest }) => rest);
  t.same(steps, [
    { log: `SIGTERM: draining, closing in ${delayMs} ms` },
    { service: "", status: NotServing, reason: "SIGTERM" },
    { service: "greet.GreetService", status: NotServing, reason: "SIGTERM" },
    { close: { graceMs: 1000 } },
    { log: "closed" },
  ]);
  const drainedAt = lines[2]?.at as number;
  const closedAt = lines[4]?.at as number;
  t.ok(closedAt - drainedAt >= delayMs - 5, "the close waits for the drain delay");
});

t.test(
  "SIGTERM with the real server: a grpc-js Watch sees NOT_SERVING, then the stream ends; exit 0",
  async (t) => {
    const child = startNode(t, ["test/fixtures/health-sigterm.ts", "200", "real"], { stderr: "inherit" });
    const port = JSON.parse((await child.line(/"ready":true/)).input).port as number;
    const client = new loaded.grpc.health.v1.Health(
      `127.0.0.1:${port}`,
      grpc.credentials.createInsecure(),
    ) as unknown as WatchStub;
    t.teardown(() => client.close());
    const seen: string[] = [];
    const call = client.watch({ service: "greet.GreetService" });
    const ended = new Promise<string>((resolve) => {
      call.on("status", (status: grpc.StatusObject) =>
        resolve(grpc.status[status.code] ?? String(status.code)),
      );
      call.on("error", () => {});
    });
    call.on("data", (message: { status: string }) => {
      seen.push(message.status);
      if (seen.length === 1) child.child.kill("SIGTERM");
    });
    t.equal(await child.exited, 0, "exit code 0");
    const end = await ended;
    t.same(seen, ["SERVING", "NOT_SERVING"]);
    t.ok(end === "OK" || end === "UNAVAILABLE", `the stream ended (${end})`);
    const steps = jsonLines(child.stdout).map(
      (line) => line.log ?? line.close ?? `${line.service}:${line.status}`,
    );
    t.same(steps.slice(-6), [
      "SIGTERM: draining, closing in 200 ms",
      ":2",
      "greet.GreetService:2",
      "grpc.health.v1.Health:2",
      { graceMs: 1000 },
      "closed",
    ]);
  },
);

t.test("in process: the sequence, a second signal, uninstall", async (t) => {
  const registry = new HealthRegistry();
  registry.set("a", Serving);
  const log: string[] = [];
  const exits: number[] = [];
  let closes = 0;
  const listenersBefore = process.listenerCount("SIGUSR2");
  const handlers = installSignalHandlers({
    registry,
    server: {
      close(options) {
        closes++;
        log.push(`close ${JSON.stringify(options)}`);
        t.equal(registry.get("a"), NotServing, "drained before the close");
        t.notOk(registry.isShutdown);
      },
    },
    delayMs: 10,
    signals: ["SIGUSR2"],
    exit: (code) => exits.push(code),
    log: (line) => log.push(line),
  });
  process.emit("SIGUSR2", "SIGUSR2");
  t.ok(registry.draining, "drained at once");
  process.emit("SIGUSR2", "SIGUSR2");
  t.same(exits, [1], "a second signal exits at once with 1");
  await handlers.shutdown(); // the same sequence, already under way
  t.same(exits, [1, 0]);
  t.equal(closes, 1);
  t.ok(registry.isShutdown);
  t.same(log, ["SIGUSR2: draining, closing in 10 ms", "SIGUSR2 again: exiting now", "close {}", "closed"]);
  handlers.uninstall();
  t.equal(process.listenerCount("SIGUSR2"), listenersBefore);
});

t.test("a failing close exits 1; no server just drains and exits", async (t) => {
  const registry = new HealthRegistry();
  const exits: number[] = [];
  const log: string[] = [];
  const failing = installSignalHandlers({
    registry,
    server: {
      close: async () => {
        throw new Error("stuck");
      },
    },
    delayMs: 0,
    graceMs: 50,
    signals: [],
    exit: (code) => exits.push(code),
    log: (line) => log.push(line),
  });
  await failing.shutdown("test");
  t.same(exits, [1]);
  t.ok(registry.isShutdown);
  t.same(log, ["test: draining, closing in 0 ms", "close failed: stuck"]);

  const thrown = installSignalHandlers({
    registry: new HealthRegistry(),
    server: {
      close: () => {
        throw "plain";
      },
    },
    delayMs: 0,
    signals: [],
    exit: (code) => exits.push(code),
    log: (line) => log.push(line),
  });
  await thrown.shutdown();
  t.equal(log.at(-1), "close failed: plain");

  const bare = new HealthRegistry();
  const none = installSignalHandlers({
    registry: bare,
    delayMs: 0,
    signals: [],
    exit: (code) => exits.push(code),
    log: () => {},
  });
  await none.shutdown();
  t.same(exits, [1, 1, 0]);
  t.ok(bare.isShutdown);
});
