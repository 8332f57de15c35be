// A zero timeout (`grpc-timeout: 0n`, `Triple-Timeout-Ms: 0`, `Connect-Timeout-Ms: 0`) is a deadline
// that has passed: dubbo-go and connect-go answer DEADLINE_EXCEEDED without running the handler, in every
// protocol, unary and streaming. Before, the server armed a zero-delay timer that the body usually beat,
// and served the call. Our client, given timeoutMs 0, fails at once and sends nothing.
import { execFile } from "node:child_process";
import http from "node:http";
import http2 from "node:http2";
import t from "tap";
import { createHealthClient } from "../../src/client/health-client.ts";
import { Code } from "../../src/wire/code.ts";
import { grpcHeaders, h2request } from "../fixtures/h2-request.ts";
import { listenLocal } from "../fixtures/start-server.ts";
import { needs } from "../fixtures/tools.ts";
import { checkRequestBytes, envelope, envelopes, h1request, startProbeServer } from "./fixtures/helpers.ts";

const greet = "/test.Probe/Greet";
const count = "/test.Probe/Count";

t.test("gRPC: grpc-timeout 0 answers DEADLINE_EXCEEDED, the handler never runs", async (t) => {
  const { url, calls } = await startProbeServer(t);
  for (const timeout of ["0n", "0u", "0m", "0S", "0M", "0H"]) {
    const unary = await h2request(
      url,
      grpcHeaders(greet, { "grpc-timeout": timeout }),
      envelope(checkRequestBytes("x")),
    );
    t.equal(unary.grpcStatus, Code.DeadlineExceeded, `unary, ${timeout}`);
    t.equal(unary.body.length, 0, "no message");
  }
  const streaming = await h2request(
    url,
    grpcHeaders(count, { "grpc-timeout": "0n" }),
    envelope(checkRequestBytes("3")),
  );
  t.equal(streaming.grpcStatus, Code.DeadlineExceeded, "server streaming");
  t.equal(streaming.body.length, 0, "no message");
  const watch = await h2request(
    url,
    grpcHeaders("/grpc.health.v1.Health/Watch", { "grpc-timeout": "0n" }),
    envelope(checkRequestBytes("")),
  );
  t.equal(watch.grpcStatus, Code.DeadlineExceeded, "Watch");
  t.equal(calls.last, undefined, "no handler ran");

  // The smallest positive timeout is still served (1n rounds up to 1 ms, not down to 0).
  const check = await h2request(
    url,
    grpcHeaders("/grpc.health.v1.Health/Check", { "grpc-timeout": "1S" }),
    envelope(checkRequestBytes("")),
  );
  t.equal(check.grpcStatus, 0, "the server still answers a Check");
});

t.test("gRPC-Web: grpc-timeout 0 answers DEADLINE_EXCEEDED", async (t) => {
  const { url, calls } = await startProbeServer(t);
  const headers = { ":path": greet, "content-type": "application/grpc-web+proto", "grpc-timeout": "0m" };
  const h2 = await h2request(url, headers, envelope(checkRequestBytes("x")));
  const frames = envelopes(h2.body);
  const status =
    h2.headers["grpc-status"] ?? /grpc-status:\s*(\d+)/.exec(frames.at(-1)?.payload.toString() ?? "")?.[1];
  t.equal(Number(status), Code.DeadlineExceeded, "HTTP/2");
  t.notOk(
    frames.some((frame) => frame.flags === 0),
    "no message",
  );

  const h1 = await h1request(`${url}${count}`, {
    headers: { "content-type": "application/grpc-web+proto", "grpc-timeout": "0n" },
    body: envelope(checkRequestBytes("3")),
  });
  const h1Frames = envelopes(h1.body);
  const h1Status =
    h1.headers["grpc-status"] ?? /grpc-status:\s*(\d+)/.exec(h1Frames.at(-1)?.payload.toString() ?? "")?.[1];
  t.equal(Number(h1Status), Code.DeadlineExceeded, "HTTP/1.1, server streaming");
  t.notOk(
    h1Frames.some((frame) => frame.flags === 0),
    "no message",
  );
  t.equal(calls.last, undefined, "no handler ran");
});

// 408 is this project's HTTP status for deadline_exceeded (dubbo-go's table, src/wire/code.ts).
t.test("triple unary: each timeout header at 0 answers 408 deadline_exceeded", async (t) => {
  const { url, calls } = await startProbeServer(t);
  for (const header of ["triple-timeout-ms", "tri-service-timeout", "connect-timeout-ms"]) {
    const h1 = await h1request(`${url}${greet}`, {
      headers: { "content-type": "application/json", [header]: "0" },
      body: '{"name":"x"}',
    });
    t.equal(h1.status, 408, `${header}, HTTP/1.1`);
    t.match(h1.json, { code: "deadline_exceeded" });
    const h2 = await h2request(
      url,
      { ":path": greet, "content-type": "application/proto", [header]: "0" },
      checkRequestBytes("x"),
    );
    t.equal(h2.status, 408, `${header}, HTTP/2`);
  }
  t.equal(calls.last, undefined, "no handler ran");
  const check = await h1request(`${url}/grpc.health.v1.Health/Check`, {
    headers: { "content-type": "application/json", "triple-timeout-ms": "1000" },
    body: "{}",
  });
  t.equal(check.status, 200, "the server still answers a Check");
});

t.test("triple streaming: Connect-Timeout-Ms 0 ends the stream with deadline_exceeded", async (t) => {
  const { url, calls } = await startProbeServer(t);
  for (const header of ["connect-timeout-ms", "triple-timeout-ms"]) {
    const response = await h2request(
      url,
      { ":path": count, "content-type": "application/connect+json", [header]: "0" },
      envelope(Buffer.from('{"service":"3"}')),
    );
    const frames = envelopes(response.body);
    t.equal(frames.length, 1, `${header}: the end-stream message alone`);
    t.equal(frames[0]?.flags, 2);
    t.match(JSON.parse(frames[0]?.payload.toString() ?? "{}"), { error: { code: "deadline_exceeded" } });
  }
  const watch = await h1request(`${url}/grpc.health.v1.Health/Watch`, {
    headers: { "content-type": "application/connect+json", "connect-timeout-ms": "0" },
    body: envelope(Buffer.from("{}")),
  });
  const frames = envelopes(watch.body);
  t.same(
    frames.map((frame) => frame.flags),
    [2],
    "Watch over HTTP/1.1: no status message",
  );
  t.match(JSON.parse(frames[0]!.payload.toString()), { error: { code: "deadline_exceeded" } });
  t.equal(calls.last, undefined, "no handler ran");
});

t.test(
  "curl: Triple-Timeout-Ms: 0 on the README's Check gets 408 deadline_exceeded",
  needs("curl"),
  async (t) => {
    const { url } = await startProbeServer(t);
    const run = (timeout: string) =>
      new Promise<string>((resolve, reject) =>
        execFile(
          "curl",
          [
            "-sS",
            "-w",
            "\\n%{http_code}",
            "-X",
            "POST",
            `${url}/grpc.health.v1.Health/Check`,
            "-H",
            "Content-Type: application/json",
            "-H",
            `Triple-Timeout-Ms: ${timeout}`,
            "-d",
            '{"service":""}',
          ],
          { timeout: 10_000 },
          (error, stdout) => (error ? reject(error) : resolve(stdout)),
        ),
      );
    const [body, status] = (await run("0")).split("\n");
    t.equal(status, "408");
    t.match(JSON.parse(body!), { code: "deadline_exceeded" });
    t.equal((await run("5000")).split("\n")[1], "200", "a real timeout is served");
  },
);

t.test("our client, timeoutMs 0: DEADLINE_EXCEEDED at once, nothing sent", async (t) => {
  let streams = 0;
  let requests = 0;
  let connections = 0;
  const h2 = http2.createServer();
  h2.on("connection", () => connections++);
  h2.on("stream", (stream) => {
    streams++;
    stream.respond(
      { ":status": 200, "content-type": "application/grpc", "grpc-status": "0" },
      { endStream: true },
    );
  });
  const h1 = http.createServer((_req, res) => {
    requests++;
    res.end();
  });
  h1.on("connection", () => connections++);
  const h2Server = await listenLocal(h2, t);
  const h1Server = await listenLocal(h1, t);
  for (const [protocol, httpVersion, server] of [
    ["grpc", "2", h2Server],
    ["triple", "2", h2Server],
    ["triple", "1.1", h1Server],
  ] as const) {
    const client = createHealthClient(server.url, { protocol, httpVersion });
    t.teardown(() => client.close());
    const started = Date.now();
    await t.rejects(
      client.check("", { timeoutMs: 0 }),
      { code: Code.DeadlineExceeded },
      `${protocol} ${httpVersion}`,
    );
    t.ok(Date.now() - started < 1000, "at once");
    await t.rejects(
      client.check("", { timeoutMs: -5 }),
      { code: Code.DeadlineExceeded },
      "a negative timeout too",
    );
    const watch = client.watch("", { timeoutMs: 0 });
    await t.rejects(watch.next(), { code: Code.DeadlineExceeded }, "Watch");
  }
  const defaulted = createHealthClient(h2Server.url, { timeoutMs: 0 });
  t.teardown(() => defaulted.close());
  await t.rejects(defaulted.check(""), { code: Code.DeadlineExceeded }, "the client-wide default");
  t.equal(streams + requests, 0, "no request reached a server");
  t.equal(connections, 0, "no connection was even opened");
});
