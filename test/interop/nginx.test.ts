// nginx in front, as docs/load-balancers.md configures it (the test reads the block from the page):
// grpc_pass on an HTTP/2 listener to two servers; grpc-js's Check and Watch go through it.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import t from "tap";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { HealthRegistry } from "../../src/health/registry.ts";
import {
  GrpcHealthClient as HealthClient,
  type GrpcHealthStub as HealthStub,
} from "../fixtures/grpc-health.ts";
import { startForeground, tempDir, testedConfig, untilListening } from "../fixtures/load-balancer.ts";
import { startServer, unusedPort } from "../fixtures/start-server.ts";
import { needs } from "../fixtures/tools.ts";

t.test("nginx grpc_pass: Check and Watch through it, Watch sees the flip", needs("nginx"), async (t) => {
  // Two servers answering from one registry: whichever nginx picks, a status set here is what it says.
  const health = new HealthRegistry();
  const backends = [await startServer(t, { health }), await startServer(t, { health })];
  const front = await unusedPort();
  const dir = tempDir(t, "triple-health-nginx-");
  const site = testedConfig("nginx", {
    "127.0.0.1:8080": `127.0.0.1:${front}`,
    "127.0.0.1:50051": backends[0]!.addr,
    "127.0.0.1:50052": backends[1]!.addr,
  });
  // The site block as a distribution's nginx.conf includes it, with every file in the temporary folder.
  const paths = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
    .map((name) => `    ${name}_temp_path ${join(dir, name)};`)
    .join("\n");
  writeFileSync(
    join(dir, "nginx.conf"),
    `worker_processes 1;\npid ${join(dir, "nginx.pid")};\nerror_log ${join(dir, "error.log")};\n` +
      `events {}\nhttp {\n    access_log ${join(dir, "access.log")};\n${paths}\n${site}\n}\n`,
  );
  const nginx = startForeground(t, "nginx", [
    "-p",
    dir,
    "-e",
    join(dir, "error.log"),
    "-c",
    join(dir, "nginx.conf"),
    "-g",
    "daemon off;",
  ]);
  await untilListening(front).catch((error: Error) => {
    throw new Error(`${error.message}; nginx said: ${nginx.output}`);
  });

  const client = new HealthClient(
    `127.0.0.1:${front}`,
    grpc.credentials.createInsecure(),
  ) as unknown as HealthStub;
  t.teardown(() => client.close());
  const check = (service: string) =>
    new Promise<{ status?: string; code: number }>((resolve) =>
      client.check({ service }, { deadline: Date.now() + 10_000 }, (error, response) =>
        resolve(error ? { code: error.code } : { status: response!.status, code: 0 }),
      ),
    );
  t.same(await check(""), { status: "SERVING", code: 0 }, "Check through nginx");
  t.equal((await check("no.such.Service")).code, grpc.status.NOT_FOUND, "an unknown service: NOT_FOUND");

  const watch = client.watch({ service: "" });
  const seen: string[] = [];
  const waiters: (() => void)[] = [];
  watch.on("data", (message: { status: string }) => {
    seen.push(message.status);
    for (const wake of waiters.splice(0)) wake();
  });
  watch.on("error", () => {});
  const next = async (count: number) => {
    const end = Date.now() + 10_000;
    while (seen.length < count && Date.now() < end)
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 500);
      });
    return seen[count - 1];
  };
  t.equal(await next(1), "SERVING", "Watch through nginx: the current status");
  health.set("", ServingStatus.NotServing, "flip");
  t.equal(await next(2), "NOT_SERVING", "then the flip");
  health.set("", ServingStatus.Serving, "flip back");
  t.equal(await next(3), "SERVING", "and back");
  t.same((await check("")).status, "SERVING", "a Check beside the Watch");
  watch.cancel();
});
