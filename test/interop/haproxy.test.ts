// HAProxy in front, as docs/load-balancers.md configures it (the test reads the block from the page): two
// `triple-health serve` backends checked with the seed's JSON POST on their RPC port, and a rolling restart —
// drain a, wait for HAProxy to mark it DOWN, restart it, wait for UP, then b — while a gRPC client calls
// through HAProxy without pause. No call may be lost.
import { writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import t, { type Test } from "tap";
import { loadProtoFiles } from "../../src/codec/proto-files.ts";
import { startForeground, tempDir, testedConfig, untilListening } from "../fixtures/load-balancer.ts";
import type { RunningNode } from "../fixtures/node-process.ts";
import { startCli } from "../fixtures/run-cli.ts";
import { unusedPort } from "../fixtures/start-server.ts";
import { needs } from "../fixtures/tools.ts";

const root = loadProtoFiles("greet.proto");
const GreetRequest = root.lookupType("greet.GreetRequest");
const GreetResponse = root.lookupType("greet.GreetResponse");

// `show stat` on HAProxy's admin socket: each server's status (UP, DOWN, …) and sessions in total.
async function serverStats(socket: string): Promise<Map<string, { status: string; total: number }>> {
  const csv = await new Promise<string>((resolve, reject) => {
    const connection = net.connect(socket);
    let text = "";
    connection.setEncoding("utf8").on("data", (chunk: string) => {
      text += chunk;
    });
    connection.on("end", () => resolve(text));
    connection.on("error", reject);
    connection.end("show stat\n");
  });
  const [header, ...rows] = csv.trim().split("\n");
  const columns = header!.replace(/^# /, "").split(",");
  const at = (name: string) => columns.indexOf(name);
  const stats = new Map<string, { status: string; total: number }>();
  for (const row of rows) {
    const cells = row.split(",");
    if (cells[at("pxname")] !== "triple") continue;
    stats.set(cells[at("svname")]!, { status: cells[at("status")]!, total: Number(cells[at("stot")]) });
  }
  return stats;
}

async function untilStatus(
  socket: string,
  server: string,
  status: string,
  timeoutMs = 20_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const now = (await serverStats(socket).catch(() => undefined))?.get(server)?.status;
    if (now === status) return;
    if (Date.now() > end) throw new Error(`HAProxy never marked ${server} ${status} (last: ${now})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function startBackend(t: Test, port: number): Promise<RunningNode> {
  const child = startCli(t, ["serve", "--sample", "--admin", "--port", String(port)]);
  await child.line(/serving/, 60_000);
  return child;
}

async function drain(port: number): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${port}/admin/drain`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: '{"reason":"rolling restart"}',
  });
  if (response.status !== 200) throw new Error(`drain answered ${response.status}`);
}

t.test("HAProxy: a rolling drain and restart of both backends loses no call", needs("haproxy"), async (t) => {
  const ports = { a: await unusedPort(), b: await unusedPort() };
  const backends = { a: await startBackend(t, ports.a), b: await startBackend(t, ports.b) };
  const front = await unusedPort();
  const dir = tempDir(t, "triple-health-haproxy-");
  const socket = join(dir, "admin.sock");
  const config = join(dir, "haproxy.cfg");
  writeFileSync(
    config,
    testedConfig("haproxy", {
      "127.0.0.1:8080": `127.0.0.1:${front}`,
      "127.0.0.1:50051": `127.0.0.1:${ports.a}`,
      "127.0.0.1:50052": `127.0.0.1:${ports.b}`,
      "/run/haproxy/admin.sock": socket,
    }),
  );
  const haproxy = startForeground(t, "haproxy", ["-f", config, "-db"]);
  try {
    await untilListening(front);
    await untilStatus(socket, "a", "UP");
    await untilStatus(socket, "b", "UP");
  } catch (error) {
    throw new Error(`${(error as Error).message}; HAProxy said: ${haproxy.output}`);
  }

  // Calls without pause through HAProxy, two at a time, on one grpc-js channel.
  const client = new grpc.Client(`127.0.0.1:${front}`, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  const greet = (name: string) =>
    new Promise<void>((resolve, reject) =>
      client.makeUnaryRequest(
        "/greet.GreetService/Greet",
        (request: { name: string }) => Buffer.from(GreetRequest.encode(request).finish()),
        (bytes: Buffer) => GreetResponse.decode(bytes) as unknown as { greeting: string },
        { name },
        { deadline: Date.now() + 10_000 },
        (error, response) =>
          error
            ? reject(error)
            : response?.greeting === `hello ${name}`
              ? resolve()
              : reject(new Error(`answered ${JSON.stringify(response)}`)),
      ),
    );
  let running = true;
  let ok = 0;
  const failures: string[] = [];
  const loop = async (id: number) => {
    for (let i = 0; running; i++) {
      await greet(`${id}-${i}`).then(
        () => ok++,
        (error: Error) => failures.push(error.message),
      );
    }
  };
  const loops = [0, 1].map(loop);
  const step = async (name: "a" | "b") => {
    const before = ok;
    await drain(ports[name]);
    await untilStatus(socket, name, "DOWN");
    // Out of rotation: while DOWN (and still up) it is sent no call, the other backend takes them all.
    const other = name === "a" ? "b" : "a";
    const down = await serverStats(socket);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const later = await serverStats(socket);
    t.equal(later.get(name)?.total, down.get(name)?.total, `no call sent to ${name} while it is DOWN`);
    t.ok(later.get(other)!.total > down.get(other)!.total, `${other} took the calls meanwhile`);
    t.equal(await backends[name].stop("SIGTERM"), 0, `${name} closed gracefully`);
    backends[name] = await startBackend(t, ports[name]);
    await untilStatus(socket, name, "UP");
    t.comment(`${name}: drained, DOWN, restarted, UP; ${ok - before} calls meanwhile`);
  };
  await untilStatus(socket, "a", "UP");
  await step("a");
  await step("b");
  await new Promise((resolve) => setTimeout(resolve, 300));
  running = false;
  await Promise.all(loops);

  t.comment(`calls through HAProxy during the rolling restart: ${ok} answered, ${failures.length} lost`);
  t.same(failures, [], "no call lost");
  t.ok(ok > 20, `calls kept flowing (${ok})`);
  const stats = await serverStats(socket);
  t.ok((stats.get("a")?.total ?? 0) > 0 && (stats.get("b")?.total ?? 0) > 0, "both backends took calls");
});
