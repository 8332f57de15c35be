// `triple-health tap`: real peers (grpc-js, connect-node, curl) call through the tap and get exactly what
// they get from the upstream directly, while the tap reports each call decoded.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPromiseClient, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcWebTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import t, { type Test } from "tap";
import {
  CallRecorder,
  loadTapTypes,
  type RecorderSink,
  type TappedCall,
} from "../../src/cli/call-recorder.ts";
import { run } from "../../src/cli/commands/tap.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { createAdminHandler } from "../../src/health/admin-handler.ts";
import { HealthRegistry } from "../../src/health/registry.ts";
import { createTripleServer, type TripleServer } from "../../src/host/triple-server.ts";
import { createTripleTap } from "../../src/host/triple-tap.ts";
import { defineService } from "../../src/server/define-service.ts";
import {
  GrpcHealthClient as HealthClient,
  type GrpcHealthStub as HealthStub,
} from "../fixtures/grpc-health.ts";
import { EsHealthService, EsServingStatus } from "../fixtures/interop-health-es.ts";
import { captureIo, startCli } from "../fixtures/run-cli.ts";
import { unusedPort } from "../fixtures/start-server.ts";
import { needs } from "../fixtures/tools.ts";

/** What the tap reported: its lines, message events and finished calls. */
interface Recorded {
  lines: string[];
  messages: { id: number; direction: string; value: unknown; streaming: boolean }[];
  calls: TappedCall[];
}

async function startUpstream(t: Test): Promise<{ server: TripleServer; url: string }> {
  const server = createTripleServer();
  server.addService("greet.GreetService", {});
  const { port } = await server.listen(0, "127.0.0.1");
  t.teardown(() => server.close({ graceMs: 0 }));
  return { server, url: `http://127.0.0.1:${port}` };
}

async function startTap(t: Test, upstream: string): Promise<{ url: string; port: number; seen: Recorded }> {
  const root = loadTapTypes([]);
  const seen: Recorded = { lines: [], messages: [], calls: [] };
  const sink: RecorderSink = {
    line: (text) => seen.lines.push(text),
    message: (id, direction, value, streaming) => seen.messages.push({ id, direction, value, streaming }),
    call: (call) => seen.calls.push(call),
  };
  let id = 0;
  const tap = createTripleTap({ upstream, observe: (head) => new CallRecorder(++id, head, { root, sink }) });
  const { port } = await tap.listen(0, "127.0.0.1");
  t.teardown(() => tap.close({ graceMs: 0 }));
  return { url: `http://127.0.0.1:${port}`, port, seen };
}

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function grpcClient(t: Test, url: string): HealthStub {
  const client = new HealthClient(url.replace("http://", ""), grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  return client as unknown as HealthStub;
}

function grpcCheck(
  client: HealthStub,
  service: string,
): Promise<{ status?: string; code?: number; details?: string }> {
  return new Promise((resolve) =>
    client.check({ service }, { deadline: Date.now() + 5000 }, (error, response) =>
      resolve(error ? { code: error.code, details: error.details } : { status: response!.status }),
    ),
  );
}

t.test(
  "grpc-js: Check and Watch through the tap answer as the upstream does, each call reported",
  async (t) => {
    const upstream = await startUpstream(t);
    const tap = await startTap(t, upstream.url);
    const direct = grpcClient(t, upstream.url);
    const tapped = grpcClient(t, tap.url);
    for (const service of ["", "greet.GreetService", "nope"]) {
      t.same(
        await grpcCheck(tapped, service),
        await grpcCheck(direct, service),
        `Check ${JSON.stringify(service)}`,
      );
    }
    await until(() => tap.seen.calls.length === 3, "three calls");
    const [ok, named, missing] = tap.seen.calls;
    t.match(ok, {
      path: "/grpc.health.v1.Health/Check",
      protocol: "grpc",
      codec: "proto",
      httpVersion: "2",
      requestMessages: [{ service: "" }],
      responseMessages: [{ status: "SERVING" }],
      trailers: { "grpc-status": "0" },
      code: 0,
      codeName: "OK",
    });
    t.type(ok!.durationMs, "number");
    t.match(named, { requestMessages: [{ service: "greet.GreetService" }], code: 0 });
    t.match(missing, { responseMessages: [], code: 5, message: "unknown service" });
    t.ok(
      tap.seen.lines.some((line) =>
        /^#1 > 0x00 grpc\.health\.v1\.HealthCheckRequest \{"service":""\}$/.test(line),
      ),
    );
    t.ok(
      tap.seen.lines.some(
        (line) =>
          line === "#3 ← NOT_FOUND (5): unknown service" ||
          /^#3 ← NOT_FOUND \(5\): unknown service in /.test(line),
      ),
    );

    // Watch: every message is reported as it passes, before the call ends.
    const watch = tapped.watch({ service: "greet.GreetService" });
    const statuses: string[] = [];
    watch.on("data", (message: { status: string }) => statuses.push(message.status));
    watch.on("error", () => {});
    await until(() => statuses.length === 1, "the first Watch message");
    upstream.server.health.set("greet.GreetService", ServingStatus.NotServing, "test");
    await until(() => statuses.length === 2, "the flip");
    t.same(statuses, ["SERVING", "NOT_SERVING"]);
    const events = tap.seen.messages.filter((event) => event.id === 4 && event.direction === "response");
    t.same(
      events.map((event) => event.value),
      [{ status: "SERVING" }, { status: "NOT_SERVING" }],
    );
    t.ok(
      events.every((event) => event.streaming),
      "Watch is known to be server-streaming",
    );
    t.equal(tap.seen.calls.length, 3, "the Watch has not finished");
    watch.cancel();
    await until(() => tap.seen.calls.length === 4, "the cancelled Watch");
    t.match(tap.seen.calls[3], {
      path: "/grpc.health.v1.Health/Watch",
      code: 1,
      answeredBy: "the caller went away",
    });
  },
);

function connectTransport(
  t: Test,
  kind: "connect" | "grpcweb",
  httpVersion: "1.1" | "2",
  url: string,
  binary: boolean,
): Transport {
  const create = kind === "connect" ? createConnectTransport : createGrpcWebTransport;
  if (httpVersion === "2") {
    const sessionManager = new Http2SessionManager(url);
    t.teardown(() => sessionManager.abort());
    return create({ baseUrl: url, httpVersion, useBinaryFormat: binary, sessionManager });
  }
  const agent = new http.Agent({ keepAlive: false });
  t.teardown(() => agent.destroy());
  return create({ baseUrl: url, httpVersion, useBinaryFormat: binary, nodeOptions: { agent } });
}

t.test("connect-node: Connect and gRPC-Web, unary and streaming, JSON and binary", async (t) => {
  const upstream = await startUpstream(t);
  const tap = await startTap(t, upstream.url);
  const cases = [
    { kind: "connect", httpVersion: "1.1", binary: false, protocol: "triple", codec: "json" },
    { kind: "connect", httpVersion: "2", binary: true, protocol: "triple", codec: "proto" },
    { kind: "grpcweb", httpVersion: "1.1", binary: true, protocol: "grpc-web", codec: "proto" },
    { kind: "grpcweb", httpVersion: "2", binary: false, protocol: "grpc-web", codec: "json" },
  ] as const;
  for (const c of cases) {
    const label = `${c.kind} ${c.codec} HTTP/${c.httpVersion}`;
    const client = createPromiseClient(
      EsHealthService,
      connectTransport(t, c.kind, c.httpVersion, tap.url, c.binary),
    );
    const before = tap.seen.calls.length;
    const response = await client.check({ service: "greet.GreetService" });
    t.equal(response.status, EsServingStatus.SERVING, label);
    const error = await client.check({ service: "nope" }).catch((e: unknown) => e as { code: number });
    t.equal((error as { code: number }).code, 5, `${label}: NOT_FOUND through the tap`);
    const abort = new AbortController();
    const statuses: number[] = [];
    try {
      for await (const message of client.watch({ service: "greet.GreetService" }, { signal: abort.signal })) {
        statuses.push(message.status);
        abort.abort();
      }
    } catch {
      // The abort ends the stream.
    }
    t.same(statuses, [EsServingStatus.SERVING], `${label}: Watch`);
    await until(() => tap.seen.calls.length === before + 3, `${label}: three calls`);
    const [check, missing, watched] = tap.seen.calls.slice(before);
    t.match(
      check,
      {
        protocol: c.protocol,
        codec: c.codec,
        httpVersion: c.httpVersion,
        requestMessages: [{ service: "greet.GreetService" }],
        responseMessages: [{ status: "SERVING" }],
        code: 0,
      },
      label,
    );
    t.match(
      missing,
      { code: 5, message: "unknown service" },
      `${label}: the error's code in its own protocol`,
    );
    t.match(
      watched,
      { path: "/grpc.health.v1.Health/Watch", responseMessages: [{ status: "SERVING" }] },
      label,
    );
  }
});

function curl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile("curl", ["-s", "-i", ...args], { timeout: 10_000 }, (error, stdout) =>
      error ? reject(error) : resolve(stdout),
    ),
  );
}

function withoutFraming(response: string): string {
  return response.replace(/^(content-length|transfer-encoding): .*\r\n/gim, "");
}

t.test("curl: the seed's JSON POST, HTTP/1.1 and h2c, byte for byte as direct", needs("curl"), async (t) => {
  const upstream = await startUpstream(t);
  const tap = await startTap(t, upstream.url);
  const json = ["-X", "POST", "-H", "Content-Type: application/json"];
  for (const extra of [[], ["--http2-prior-knowledge"]]) {
    for (const [path, body] of [
      ["/grpc.health.v1.Health/Check", '{"service":"greet.GreetService"}'],
      ["/grpc.health.v1.Health/Check", '{"service":"nope"}'],
      ["/grpc.health.v1.Health/Nope", "{}"],
    ] as const) {
      const args = [...extra, ...json, "-d", body];
      const direct = await curl([...args, `${upstream.url}${path}`]);
      const tapped = await curl([...args, `${tap.url}${path}`]);
      const label = `${extra.join(" ") || "HTTP/1.1"} ${path} ${body}`;
      if (extra.length > 0) t.equal(tapped, direct, `${label}: byte for byte`);
      // HTTP/1.1 from an HTTP/2 upstream: the same status, headers and body; the body's framing (length or
      // chunked) is the hop's own.
      else t.equal(withoutFraming(tapped), withoutFraming(direct), `${label}: all but the framing`);
    }
  }
  await until(() => tap.seen.calls.length === 6, "six calls");
  t.match(tap.seen.calls[0], {
    protocol: "triple",
    codec: "json",
    httpVersion: "1.1",
    responseMessages: [{ status: "SERVING" }],
    code: 0,
  });
  t.match(tap.seen.calls[1], { status: 404, code: 5, message: "unknown service" });
  t.match(tap.seen.calls[2], { code: 12 });
  t.match(tap.seen.calls[3], { httpVersion: "2", code: 0 });
});

t.test("gRPC-Web-Text is decoded from its base64, cut anywhere", async (t) => {
  const upstream = await startUpstream(t);
  const tap = await startTap(t, upstream.url);
  const payload = Buffer.from([0x0a, 0x00]);
  const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, payload.length]), payload]);
  const text = frame.toString("base64");
  const session = http2.connect(tap.url);
  t.teardown(() => session.close());
  const stream = session.request({
    ":method": "POST",
    ":path": "/grpc.health.v1.Health/Check",
    "content-type": "application/grpc-web-text",
  });
  // Two writes that split a base64 quad.
  stream.write(text.slice(0, 3));
  stream.end(text.slice(3));
  const chunks: Buffer[] = [];
  stream.on("data", (chunk: Buffer) => chunks.push(chunk));
  await new Promise((resolve) => stream.on("end", resolve));
  await until(() => tap.seen.calls.length === 1, "the call");
  t.match(tap.seen.calls[0], {
    protocol: "grpc-web",
    requestMessages: [{ service: "" }],
    responseMessages: [{ status: "SERVING" }],
    trailers: { "grpc-status": "0" },
    code: 0,
  });
});

t.test("-proto: messages of the services a .proto declares, -type for other paths", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tap-proto-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "demo.proto");
  writeFileSync(
    file,
    `syntax = "proto3";
package demo;
message CountRequest { int32 n = 1; }
message CountReply { repeated string words = 1; }
service Counter { rpc Count(CountRequest) returns (CountReply); }
`,
  );
  const root = loadTapTypes([file]);
  const server = createTripleServer();
  server.addService(
    "demo.Counter",
    defineService(root, "demo.Counter", {
      Count: (request: { n: number }) => ({ words: Array.from({ length: request.n }, (_, i) => `w${i}`) }),
    }),
  );
  const { port } = await server.listen(0, "127.0.0.1");
  t.teardown(() => server.close({ graceMs: 0 }));
  const seen: TappedCall[] = [];
  const lines: string[] = [];
  let id = 0;
  const tap = createTripleTap({
    upstream: `http://127.0.0.1:${port}`,
    observe: (head) =>
      new CallRecorder(++id, head, {
        root,
        fallbackType: root.lookupType("demo.CountRequest"),
        sink: { line: (text) => lines.push(text), message() {}, call: (call) => seen.push(call) },
      }),
  });
  const { port: tapPort } = await tap.listen(0, "127.0.0.1");
  t.teardown(() => tap.close({ graceMs: 0 }));
  const request = Buffer.from(root.lookupType("demo.CountRequest").encode({ n: 2 }).finish());
  for (const path of ["/demo.Counter/Count", "/demo.Other/Count"]) {
    const session = http2.connect(`http://127.0.0.1:${tapPort}`);
    const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/proto" });
    stream.end(request);
    stream.resume();
    await new Promise((resolve) => stream.on("close", resolve));
    session.close();
  }
  await until(() => seen.length === 2, "two calls");
  t.match(seen[0], { requestMessages: [{ n: 2 }], responseMessages: [{ words: ["w0", "w1"] }], code: 0 });
  t.ok(
    lines.some((line) => line === '#1 > demo.CountRequest {"n":2}'),
    "named by its type",
  );
  t.match(seen[1], { requestMessages: [{ n: 2 }], code: 12 }, "-type decodes a path no .proto declares");
});

t.test("an upstream that is down: UNAVAILABLE, answered by the tap and reported so", async (t) => {
  const tap = await startTap(t, `http://127.0.0.1:${await unusedPort()}`);
  const result = await grpcCheck(grpcClient(t, tap.url), "");
  t.equal(result.code, grpc.status.UNAVAILABLE);
  await until(() => tap.seen.calls.length === 1, "the call");
  t.match(tap.seen.calls[0], { code: 14, answeredBy: /failed before answering/ });
});

t.test("a message past the tap's decoding limit passes through, reported by size", async (t) => {
  const upstream = await startUpstream(t);
  const tap = await startTap(t, upstream.url);
  const big = JSON.stringify({ service: "x".repeat(5 * 1024 * 1024) });
  const response = await fetch(`${tap.url}/grpc.health.v1.Health/Check`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: big,
  });
  const directResponse = await fetch(`${upstream.url}/grpc.health.v1.Health/Check`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: big,
  });
  t.equal(response.status, directResponse.status, "the same answer as direct");
  t.equal(await response.text(), await directResponse.text());
  await until(() => tap.seen.calls.length === 1, "the call");
  t.ok(tap.seen.lines.some((line) => /^#1 > \(not decoded: body over 4194304 bytes\)$/.test(line)));
  t.match(tap.seen.calls[0], { requestMessages: [], code: 8 }, "RESOURCE_EXHAUSTED from the upstream");
});

t.test("the upstream's admin surface is not reachable through the tap", async (t) => {
  const health = new HealthRegistry();
  const server = createTripleServer({ health, plainHttpHandlers: [createAdminHandler(health)] });
  const { port } = await server.listen(0, "127.0.0.1");
  t.teardown(() => server.close({ graceMs: 0 }));
  const tap = await startTap(t, `http://127.0.0.1:${port}`);
  for (const path of ["/admin/drain", "/%61dmin/drain", "/ADMIN/drain", "/livez"]) {
    const response = await fetch(`${tap.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    t.equal(response.status, 404, `${path}: answered by the tap`);
    await response.arrayBuffer();
  }
  t.equal(health.draining, false, "the upstream was not drained");
  t.same(tap.seen.calls, [], "nothing was forwarded");
  const direct = await fetch(`http://127.0.0.1:${port}/admin/drain`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  });
  t.equal(direct.status, 200, "the same request straight to the upstream drains it");
  t.equal(health.draining, true);
});

t.test("the command: -json lines, exit 0 on SIGTERM", async (t) => {
  const upstream = await startUpstream(t);
  const port = await unusedPort();
  const child = startCli(t, ["tap", "-upstream", upstream.url, "-listen", `127.0.0.1:${port}`, "-json"]);
  await until(() => /tap on http:\/\/127\.0\.0\.1:\d+/.test(child.stderr), "the banner", 60_000);
  t.same(await grpcCheck(grpcClient(t, `http://127.0.0.1:${port}`), ""), { status: "SERVING" });
  const line = await child.line(/"event":"call"/);
  const call = JSON.parse(line.input) as TappedCall;
  t.match(call, {
    path: "/grpc.health.v1.Health/Check",
    protocol: "grpc",
    httpVersion: "2",
    requestMessages: [{ service: "" }],
    responseMessages: [{ status: "SERVING" }],
    code: 0,
  });
  t.type(call.durationMs, "number");
  t.equal(await child.stop("SIGTERM"), 0);
});

t.test("usage errors, a busy port, help", async (t) => {
  for (const args of [
    [],
    ["-upstream", "ftp://x"],
    ["-upstream", "a:1", "-listen", "nohost"],
    ["-upstream", "a:1", "-type", "no.Such"],
    ["-upstream", "a:1", "extra"],
  ]) {
    const io = captureIo();
    t.equal(await run(args, io.io), 1, args.join(" "));
    t.match(io.err, /^triple-health tap: /);
  }
  const upstream = await startUpstream(t);
  const busy = captureIo();
  t.equal(await run(["-upstream", upstream.url, "-listen", upstream.url.replace("http://", "")], busy.io), 2);
  t.match(busy.err, /cannot listen/);
  const help = captureIo();
  t.equal(await run(["-h"], help.io), 0);
  t.match(help.out, /usage: triple-health tap/);
});
