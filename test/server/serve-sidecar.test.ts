// `triple-health serve -check NAME=URL` as a health sidecar: flags, the text log in process, then a child
// process with one check of each kind against real targets (a TCP listener, an HTTP server, a second
// `serve` drained through its admin surface, a file an exec check tests), each taken down and back up;
// Check of NAME and of "" through the health client, and the -log json lines.
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer as createHttpServer } from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { parseServeArgs, run } from "../../src/cli/commands/serve.ts";
import { createHealthClient } from "../../src/client/health-client.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { createAdminClient } from "../../src/health/admin-client.ts";
import type { RunningNode } from "../fixtures/node-process.ts";
import { captureIo, startCli } from "../fixtures/run-cli.ts";
import { listenLocal, unusedPort } from "../fixtures/start-server.ts";
import { h1request, until } from "./fixtures/helpers.ts";

const { Serving, NotServing } = ServingStatus;

t.test("flags: -check, the timing every check shares, -log", async (t) => {
  const plain = parseServeArgs([], {});
  t.same(plain.checks, []);
  t.equal(plain.log, "text");
  t.equal(plain.checkTiming, undefined, "no checks, no timing");
  const defaults = parseServeArgs(["-check", "db=tcp://127.0.0.1:5432"], {});
  t.same(defaults.checks, [
    { name: "db", url: "tcp://127.0.0.1:5432", target: { kind: "tcp", host: "127.0.0.1", port: 5432 } },
  ]);
  t.same(
    defaults.checkTiming,
    { intervalMs: 10_000, timeoutMs: 1000, failureThreshold: 3, successThreshold: 1 },
    "Kubernetes' probe defaults",
  );
  const given = parseServeArgs(
    [
      "-check=a=exec:true",
      "--check",
      "b=tcp://h:1",
      "-check-interval",
      "200ms",
      "-check-timeout=50ms",
      "-failure-threshold",
      "2",
      "-success-threshold",
      "4",
      "-log",
      "json",
    ],
    {},
  );
  t.same(
    given.checks.map((c) => c.name),
    ["a", "b"],
  );
  t.same(given.checkTiming, { intervalMs: 200, timeoutMs: 50, failureThreshold: 2, successThreshold: 4 });
  t.equal(given.log, "json");
  t.equal(parseServeArgs(["-log", "json"], {}).log, "json", "-log json needs no -check");
  for (const [args, message] of [
    [["-check-interval", "1s"], /-check-interval needs -check/],
    [["-failure-threshold", "2"], /-failure-threshold needs -check/],
    [["-check", "a=exec:true", "-check-interval", "0"], /-check-interval must be at least 1ms/],
    [["-check", "a=exec:true", "-check-timeout", "0.5ms"], /-check-timeout must be at least 1ms/],
    [["-check", "a=exec:true", "-check-interval", "25h"], /-check-interval must be at most 24h/],
    [["-check", "a=exec:true", "-check-timeout", "1000h"], /-check-timeout must be at most 24h/],
    [["-check", "a=exec:true", "-failure-threshold", "0"], /-failure-threshold must be at least 1$/],
    [["-check", "a=exec:true", "-success-threshold", "0"], /-success-threshold must be at least 1$/],
    [["-log", "xml"], /invalid value "xml" for -log: want one of text, json/],
    [["-check", "a=ftp://h:1"], /invalid -check "a=ftp:\/\/h:1": unknown scheme/],
  ] as const) {
    t.throws(() => parseServeArgs([...args], {}), message, args.join(" "));
  }
  const bad = captureIo();
  t.equal(await run(["--port", "0", "--check", "db=tcp://h"], bad.io), 1, "a bad -check is exit 1");
  t.match(bad.err, /triple-health serve: invalid -check "db=tcp:\/\/h": missing port/);
  const help = captureIo();
  await run(["-h"], help.io);
  t.match(
    help.out,
    /-check NAME=URL[\s\S]*-check-interval duration[\s\S]*-check-timeout duration[\s\S]*-failure-threshold N[\s\S]*-success-threshold N[\s\S]*-log text\|json/,
  );
});

t.test('in process, text log: an exec check drives its service and ""; /admin/health lists it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "serve-sidecar-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "ready");
  const out = captureIo();
  const running = run(
    [
      "--port",
      "0",
      "--admin",
      "--check",
      `ready=exec:test -f ${file}`,
      "--check-interval",
      "100ms",
      "--failure-threshold",
      "1",
      "--grace-ms",
      "100",
    ],
    out.io,
  );
  await until(() => out.out.includes('"" SERVING -> NOT_SERVING'), 30_000);
  const url = `http://127.0.0.1:${Number(/:(\d+) /.exec(out.out)?.[1])}`;
  t.match(
    out.out,
    /^triple-health serving grpc\.health\.v1\.Health on http:\/\/127\.0\.0\.1:\d+ \(h2c, HTTP\/1\.1\)\n/,
  );
  t.match(
    out.out,
    /triple-health serve: check "ready": exec:test -f \S+ every 100ms \(timeout 1s, NOT_SERVING after 1 failed, SERVING after 1 passed\)\n/,
  );
  t.match(out.out, /triple-health serve: "ready" new -> NOT_SERVING: ready: not passed yet\n/);
  t.match(out.out, /triple-health serve: "" SERVING -> NOT_SERVING: ready: not passed yet\n/);
  const check = async (service: string) =>
    (
      await h1request(`${url}/grpc.health.v1.Health/Check`, {
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ service }),
      })
    ).body.toString();
  t.equal(await check("ready"), '{"status":"NOT_SERVING"}', "no file: the check fails");
  await writeFile(file, "");
  await until(() => out.out.includes('"" NOT_SERVING -> SERVING'), 30_000);
  t.match(out.out, /"ready" still NOT_SERVING: ready: exit code 1\b/, "the reason names the check's error");
  t.match(out.out, /"" still NOT_SERVING: ready: exit code 1\b/, '"" too');
  t.match(out.out, /"ready" NOT_SERVING -> SERVING: ready: passed\n/, "a first success is no recovery");
  t.equal(await check("ready"), '{"status":"SERVING"}');
  t.equal(await check(""), '{"status":"SERVING"}');
  const admin = await h1request(`${url}/admin/health`, { method: "GET" });
  t.match(
    admin.json,
    { checks: [{ name: "ready", services: ["ready", ""], passing: true }] },
    "the runner is the admin surface's",
  );
  process.emit("SIGTERM", "SIGTERM");
  t.equal(await running, 0);
  t.match(out.out, /SIGTERM, closing[\s\S]*closed/);
});

/** Pids of running processes whose argv is exactly `argv` (zombies excluded). */
function processesRunning(argv: string[]): number[] {
  const wanted = `${argv.join("\0")}\0`;
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8") !== wanted) continue;
      if (/^State:\s+Z/m.test(readFileSync(`/proc/${entry}/status`, "utf8"))) continue;
      found.push(Number(entry));
    } catch {
      // Gone while we looked.
    }
  }
  return found;
}

t.test("in process: a hung exec check fails at -check-timeout and its process is killed", async (t) => {
  // A duration no other process on the machine is likely to sleep, to find ours in /proc.
  const argv = ["sleep", `${3000 + Math.floor(Math.random() * 1000)}.${process.pid}`];
  const out = captureIo();
  const running = run(
    [
      "--port",
      "0",
      "--admin",
      "--check",
      `slow=exec:${argv.join(" ")}`,
      "--check-interval",
      "200ms",
      "--check-timeout",
      "150ms",
      "--failure-threshold",
      "1",
      "--grace-ms",
      "100",
    ],
    out.io,
  );
  await until(() => out.out.includes("serving"), 30_000);
  const url = `http://127.0.0.1:${Number(/:(\d+) /.exec(out.out)?.[1])}`;
  let report: { checks?: Array<{ lastError?: string; attempts: number }> } = {};
  const end = Date.now() + 30_000;
  while (!((report.checks?.[0]?.attempts ?? 0) >= 3) && Date.now() < end) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    report = (await h1request(`${url}/admin/health`, { method: "GET" })).json as typeof report;
  }
  t.match(report.checks?.[0], { lastError: "timed out after 150 ms" }, "each attempt ends at the timeout");
  const deadline = Date.now() + 10_000;
  // At most the attempt running now is alive: the timed-out ones were killed, not left to pile up.
  while (processesRunning(argv).length > 1 && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 50));
  t.ok(processesRunning(argv).length <= 1, "no sleep outlives its attempt");
  process.emit("SIGTERM", "SIGTERM");
  t.equal(await running, 0);
  while (processesRunning(argv).length > 0 && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 50));
  t.same(processesRunning(argv), [], "the shutdown kills the attempt in flight");
});

interface LogLine {
  time: string;
  service: string;
  status: string | null;
  previous: string | null;
  reason: string;
  source: string;
}

const logLines = (child: RunningNode): LogLine[] =>
  child.stdout
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as LogLine);

/** The first log line after the first `from` lines that matches, waiting for it (generously: a loaded CI). */
async function nextLine(child: RunningNode, from: number, match: Partial<LogLine>): Promise<LogLine> {
  const end = Date.now() + 30_000;
  for (;;) {
    const found = logLines(child)
      .slice(from)
      .find((line) => Object.entries(match).every(([key, value]) => line[key as keyof LogLine] === value));
    if (found !== undefined) return found;
    if (Date.now() > end)
      throw new Error(
        `no log line ${JSON.stringify(match)} after line ${from}:\n${child.stdout}\n${child.stderr}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

t.test(
  'a sidecar child process: tcp, http, grpc and exec checks each fail and recover, with ""',
  async (t) => {
    const intervalMs = 300;
    const failureThreshold = 2;

    const tcp = net.createServer((socket) => socket.destroy());
    const tcpPort = (await listenLocal(tcp, t)).port;
    let httpStatus = 200;
    const web = await listenLocal(
      createHttpServer((_request, response) => {
        response.statusCode = httpStatus;
        response.end(httpStatus === 200 ? "ok" : "broken");
      }),
      t,
    );
    const target = startCli(t, ["serve", "--admin", "--port", "0", "--service", "up.Service"]);
    const targetAddr = `127.0.0.1:${(await target.line(/serving .* on http:\/\/127\.0\.0\.1:(\d+) /, 60_000))[1]}`;
    const dir = await mkdtemp(join(tmpdir(), "serve-sidecar-"));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, "ready");
    await writeFile(file, "");

    const port = await unusedPort();
    const sidecar = startCli(t, [
      "serve",
      "--port",
      String(port),
      "--log",
      "json",
      "--check",
      `tcp=tcp://127.0.0.1:${tcpPort}`,
      "--check",
      `web=${web.url}/healthz`,
      "--check",
      `remote=grpc://${targetAddr}`,
      "--check",
      `file=exec:test -f ${file}`,
      "--check-interval",
      `${intervalMs}ms`,
      "--check-timeout",
      "1s",
      "--failure-threshold",
      String(failureThreshold),
    ]);
    const client = createHealthClient(`http://127.0.0.1:${port}`, { timeoutMs: 5000 });
    t.teardown(() => client.close());

    // Every check starts NOT_SERVING (a readiness probe); "" is SERVING once all four passed.
    await nextLine(sidecar, 0, { service: "", status: "SERVING", previous: "NOT_SERVING" });
    for (const name of ["tcp", "web", "remote", "file", ""])
      t.equal(await client.check(name), Serving, `${name} up`);
    t.match(
      sidecar.stderr,
      /triple-health serving grpc\.health\.v1\.Health on http:\/\/127\.0\.0\.1:\d+/,
      "banner on stderr",
    );
    t.match(
      sidecar.stderr,
      /check "remote": grpc:\/\/127\.0\.0\.1:\d+ every 300ms \(timeout 1s, NOT_SERVING after 2 failed/,
    );
    t.match(
      logLines(sidecar).find((line) => line.service === "tcp"),
      { status: "NOT_SERVING", previous: null, reason: "tcp: not passed yet", source: "tcp" },
      "the first line of a check's service: registered NOT_SERVING",
    );

    const lowest = 0.9 * intervalMs * (failureThreshold - 1) - 20; // jitter ±10%, ms rounding
    const detected: Record<string, number> = {};
    /** Breaks `name`'s target, checks NAME and "" go NOT_SERVING (no sooner than the threshold allows), mends it. */
    const cycle = async (
      name: string,
      reason: RegExp,
      breakIt: () => Promise<void>,
      mendIt: () => Promise<void>,
    ) => {
      const from = logLines(sidecar).length;
      const brokenAt = Date.now();
      await breakIt();
      const down = await nextLine(sidecar, from, { service: name, status: "NOT_SERVING" });
      t.match(down, { previous: "SERVING", source: name, reason }, `${name}: down`);
      const overall = await nextLine(sidecar, from, { service: "", status: "NOT_SERVING" });
      t.match(overall, { previous: "SERVING", source: name, reason }, `${name}: "" follows`);
      const after = Date.parse(down.time) - brokenAt;
      detected[name] = after;
      t.ok(after >= lowest, `${name}: not before ${failureThreshold} failed attempts (${after} ms)`);
      t.ok(
        after < 10 * intervalMs * failureThreshold,
        `${name}: within interval x threshold, with room for load (${after} ms)`,
      );
      t.equal(await client.check(name), NotServing);
      t.equal(await client.check(""), NotServing);
      t.equal(
        await client.check("tcp" === name ? "file" : "tcp"),
        Serving,
        "the other checks' services stay up",
      );
      const upFrom = logLines(sidecar).length;
      await mendIt();
      t.match(await nextLine(sidecar, upFrom, { service: name, status: "SERVING" }), {
        previous: "NOT_SERVING",
        reason: `${name}: passing again`,
        source: name,
      });
      await nextLine(sidecar, upFrom, { service: "", status: "SERVING" });
      t.equal(await client.check(name), Serving, `${name}: back`);
      t.equal(await client.check(""), Serving);
    };

    await cycle(
      "tcp",
      new RegExp(`^tcp: connect 127\\.0\\.0\\.1:${tcpPort}: ECONNREFUSED$`),
      () => new Promise((resolve) => tcp.close(() => resolve())),
      () => new Promise((resolve) => tcp.listen(tcpPort, "127.0.0.1", () => resolve())),
    );
    await cycle(
      "web",
      new RegExp(`^web: HTTP 500 from ${web.url}$`),
      async () => {
        httpStatus = 500;
      },
      async () => {
        httpStatus = 200;
      },
    );
    const admin = createAdminClient(targetAddr);
    await cycle(
      "remote",
      /^remote: remote service "" is NOT_SERVING$/,
      async () => {
        await admin.drain("maintenance");
      },
      async () => {
        await admin.resume("done");
      },
    );
    await cycle(
      "file",
      /^file: exit code 1$/,
      () => rm(file),
      () => writeFile(file, ""),
    );
    t.comment(
      `NOT_SERVING after (ms, interval ${intervalMs} x threshold ${failureThreshold}): ${JSON.stringify(detected)}`,
    );

    t.equal(await sidecar.stop("SIGTERM"), 0);
    const lines = logLines(sidecar);
    for (const line of lines)
      t.same(Object.keys(line), ["time", "service", "status", "previous", "reason", "source"], "one schema");
    t.ok(
      lines.every((line) => !Number.isNaN(Date.parse(line.time))),
      "ISO times",
    );
    t.match(
      lines.at(-1),
      { status: "NOT_SERVING", reason: "SIGTERM", source: "drain" },
      "the drain is logged too",
    );
    t.match(sidecar.stderr, /SIGTERM, closing[\s\S]*closed/, "shutdown lines on stderr, stdout stays JSON");
    t.equal(await target.stop("SIGTERM"), 0);
  },
);

t.test(
  'a child\'s -log json: a check that never passed carries its last error, for its service and ""',
  async (t) => {
    const closedPort = await unusedPort();
    const sidecar = startCli(t, [
      "serve",
      "--port",
      "0",
      "--log",
      "json",
      "--check",
      `db=tcp://127.0.0.1:${closedPort}`,
      "--check-interval",
      "100ms",
      "--failure-threshold",
      "1",
    ]);
    t.match(
      await nextLine(sidecar, 0, { service: "db", previous: null }),
      { status: "NOT_SERVING", reason: "db: not passed yet", source: "db" },
      "registered NOT_SERVING before its first attempt",
    );
    const refused = new RegExp(`^db: connect 127\\.0\\.0\\.1:${closedPort}: ECONNREFUSED$`);
    const end = Date.now() + 30_000;
    let lines: LogLine[] = [];
    while (Date.now() < end) {
      lines = logLines(sidecar).slice(1);
      if (["db", ""].every((service) => lines.some((l) => l.service === service && refused.test(l.reason))))
        break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    for (const service of ["db", ""]) {
      t.match(
        lines.find((l) => l.service === service && refused.test(l.reason)),
        { status: "NOT_SERVING", previous: "NOT_SERVING", reason: refused, source: "db" },
        `${JSON.stringify(service)}: still NOT_SERVING, because of the refused connection`,
      );
    }
    t.notOk(
      logLines(sidecar).some((l) => (l.service === "db" || l.service === "") && l.status === "SERVING"),
      'neither "db" nor "" ever said SERVING',
    );
    t.equal(await sidecar.stop("SIGTERM"), 0);
  },
);

t.test("in process: with -check, a Check waiting for the port to open is answered NOT_SERVING", async (t) => {
  // The checks are added before the port opens, so no request can find "" SERVING before they ran: this one
  // waits in the kernel's queue and is read as soon as the server accepts (and -metrics, a name to resolve,
  // puts I/O between listen() and what follows it).
  const closed = await unusedPort();
  const port = await unusedPort();
  const request =
    "POST /grpc.health.v1.Health/Check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
    "Content-Length: 14\r\nConnection: close\r\n\r\n" +
    '{"service":""}';
  // Knocks until the port opens; the request is written the moment it does.
  const answer = new Promise<string>((resolve) => {
    const knock = () => {
      const socket = net.connect(port, "127.0.0.1");
      let text = "";
      socket.on("connect", () => socket.write(request));
      socket.on("data", (chunk) => {
        text += chunk.toString();
      });
      socket.on("error", () => setTimeout(knock, 1));
      socket.on("close", () => text !== "" && resolve(text));
    };
    knock();
  });
  const out = captureIo();
  const running = run(
    [
      "--port",
      String(port),
      "--metrics",
      "localhost:0",
      "--check",
      `db=tcp://127.0.0.1:${closed}`,
      "--grace-ms",
      "0",
    ],
    out.io,
  );
  t.match(await answer, /\r\n\r\n\{"status":"NOT_SERVING"\}$/);
  await until(() => out.out.includes("metrics on"), 30_000);
  process.emit("SIGTERM", "SIGTERM");
  t.equal(await running, 0);
});
