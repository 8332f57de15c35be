// proto3 JSON as dubbo-go and connect-go (Go's protojson, default options) read and write it, end to end:
// unknown and repeated fields and empty bodies refused with 400, zero values left out (UNKNOWN is `{}`),
// the charset form of the content-type echoed, and 415 answers listing the accepted types in Accept-Post.
// Peers: curl, and connect-es (@connectrpc/connect-node) with JSON, which must keep working.
import { execFile } from "node:child_process";
import http from "node:http";
import { ConnectError, createPromiseClient, Code as EsCode, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcWebTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import t, { type Test } from "tap";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { acceptPost, acceptPostStreaming } from "../../src/protocol/content-type.ts";
import { h2exchange } from "../fixtures/h2-request.ts";
import { EsHealthService, EsServingStatus } from "../fixtures/interop-health-es.ts";
import { needs } from "../fixtures/tools.ts";
import { envelope, envelopes, h1request, startProbeServer } from "./fixtures/helpers.ts";

const checkPath = "/grpc.health.v1.Health/Check";

interface CurlAnswer {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** curl -i: the response head (the last one, past any 100 Continue) and the body. */
function curl(args: string[]): Promise<CurlAnswer> {
  return new Promise((resolve, reject) =>
    execFile("curl", ["-sS", "-i", ...args], { timeout: 10_000 }, (error, stdout) => {
      if (error) return reject(error);
      const split = stdout.indexOf("\r\n\r\n");
      const [statusLine = "", ...lines] = stdout.slice(0, split).split("\r\n");
      const headers = new Map<string, string>();
      for (const line of lines) {
        const colon = line.indexOf(":");
        headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
      resolve({ status: Number(statusLine.split(" ")[1]), headers, body: stdout.slice(split + 4) });
    }),
  );
}

async function started(t: Test) {
  const server = await startProbeServer(t);
  server.server.health.set("known.Service", ServingStatus.Serving);
  server.server.health.set("unknown.Status", ServingStatus.Unknown);
  return server;
}

t.test("curl: the charset form of the content-type is answered in kind", needs("curl"), async (t) => {
  const { url } = await started(t);
  for (const [sent, answered] of [
    ["application/json; charset=utf-8", "application/json; charset=utf-8"],
    ["application/json;charset=UTF-8", "application/json; charset=utf-8"],
    ["application/json", "application/json"],
  ]) {
    for (const http2 of [false, true]) {
      const answer = await curl([
        ...(http2 ? ["--http2-prior-knowledge"] : []),
        "-X",
        "POST",
        `${url}${checkPath}`,
        "-H",
        `Content-Type: ${sent}`,
        "-d",
        '{"service":"known.Service"}',
      ]);
      t.equal(answer.status, 200, `${sent} over ${http2 ? "h2c" : "HTTP/1.1"}`);
      t.equal(answer.headers.get("content-type"), answered);
      t.equal(answer.body, '{"status":"SERVING"}');
    }
  }
  const stream = await h2exchange(
    url,
    {
      ":method": "POST",
      ":path": "/grpc.health.v1.Health/Watch",
      "content-type": "application/connect+json; charset=utf-8",
      "connect-timeout-ms": "300",
    },
    { body: envelope(Buffer.from('{"service":"known.Service"}')) },
  );
  t.equal(stream.headers["content-type"], "application/connect+json; charset=utf-8", "streaming too");
  t.equal(envelopes(stream.body)[0]?.payload.toString(), '{"status":"SERVING"}');
});

t.test("curl: a 415 says what is accepted in Accept-Post", needs("curl"), async (t) => {
  const { url } = await started(t);
  for (const http2 of [false, true]) {
    const answer = await curl([
      ...(http2 ? ["--http2-prior-knowledge"] : []),
      "-X",
      "POST",
      `${url}${checkPath}`,
      "-H",
      "Content-Type: text/plain",
      "-d",
      "known.Service",
    ]);
    t.equal(answer.status, 415, http2 ? "h2c" : "HTTP/1.1");
    t.equal(answer.headers.get("accept-post"), acceptPost);
  }
  t.match(acceptPost, /^application\/connect\+json, application\/connect\+json; charset=utf-8, /);
  // A streaming method called with a unary content-type: only the enveloped types would do.
  const unaryToStream = await curl([
    "-X",
    "POST",
    `${url}/grpc.health.v1.Health/Watch`,
    "-H",
    "Content-Type: application/json",
    "-d",
    "{}",
  ]);
  t.equal(unaryToStream.status, 415);
  t.equal(unaryToStream.headers.get("accept-post"), acceptPostStreaming);
  t.notOk(acceptPostStreaming.split(", ").includes("application/json"));
  const check = await curl([
    "-X",
    "POST",
    `${url}${checkPath}`,
    "-H",
    "Content-Type: application/json",
    "-d",
    "{}",
  ]);
  t.equal(check.status, 200, "the server still answers a Check");
});

t.test("curl: unknown fields, repeated fields and empty bodies are 400", needs("curl"), async (t) => {
  const { url, calls } = await started(t);
  const post = (body: string, type = "application/json") =>
    curl(["-X", "POST", `${url}/test.Probe/Greet`, "-H", `Content-Type: ${type}`, "--data-binary", body]);
  for (const [body, reason] of [
    ['{"name":"a","extra":1}', /unknown field "extra"/],
    ['{"name":"a","name":"b"}', /duplicate field "name"/],
    ['{"name":"a","n\\u0061me":"b"}', /duplicate field "name"/],
    ['{"Name":"a"}', /unknown field "Name"/],
    ["", /empty body/],
  ] as const) {
    const answer = await post(body);
    t.equal(answer.status, 400, JSON.stringify(body));
    const error = JSON.parse(answer.body) as { code: string; message: string };
    t.equal(error.code, "invalid_argument");
    t.match(error.message, reason);
  }
  t.equal(calls.last, undefined, "no handler ran");
  const ok = await post('{"name":"a"}', "application/json; charset=utf-8");
  t.equal(ok.body, '{"greeting":"hello a"}', "a plain body is still served");
  t.equal((await post("{}")).body, '{"greeting":"hello "}', "{} is the empty message");
});

t.test("zero values are left out: a status of UNKNOWN is {}", async (t) => {
  const { url } = await started(t);
  const check = await h1request(`${url}${checkPath}`, {
    headers: { "content-type": "application/json" },
    body: '{"service":"unknown.Status"}',
  });
  t.equal(check.status, 200);
  t.equal(check.body.toString(), "{}", "protojson writes UNKNOWN (0) as nothing");
  const watch = await h1request(`${url}/grpc.health.v1.Health/Watch`, {
    headers: { "content-type": "application/connect+json", "connect-timeout-ms": "300" },
    body: envelope(Buffer.from('{"service":"unknown.Status"}')),
  });
  const [first] = envelopes(watch.body);
  t.equal(first?.flags, 0);
  t.equal(first?.payload.toString(), "{}", "Watch too");
  const list = await h1request(`${url}/grpc.health.v1.Health/List`, {
    headers: { "content-type": "application/json" },
    body: "{}",
  });
  t.match(JSON.parse(list.body.toString()), {
    statuses: { "unknown.Status": {}, "known.Service": { status: "SERVING" } },
  });
  t.same(JSON.parse(list.body.toString()).statuses["unknown.Status"], {});
});

t.test("connect-es with JSON reads {} as UNKNOWN and its requests are served", async (t) => {
  const { url, server } = await started(t);
  for (const [name, create] of [
    ["connect", createConnectTransport],
    ["grpc-web", createGrpcWebTransport],
  ] as const) {
    for (const httpVersion of ["1.1", "2"] as const) {
      let transport: Transport;
      if (httpVersion === "2") {
        const sessionManager = new Http2SessionManager(url);
        t.teardown(() => sessionManager.abort());
        transport = create({ baseUrl: url, httpVersion, useBinaryFormat: false, sessionManager });
      } else {
        const agent = new http.Agent({ keepAlive: false });
        t.teardown(() => agent.destroy());
        transport = create({ baseUrl: url, httpVersion, useBinaryFormat: false, nodeOptions: { agent } });
      }
      const client = createPromiseClient(EsHealthService, transport);
      const label = `${name} JSON HTTP/${httpVersion}`;
      t.equal((await client.check({ service: "unknown.Status" })).status, EsServingStatus.UNKNOWN, label);
      t.equal((await client.check({ service: "known.Service" })).status, EsServingStatus.SERVING, label);
      t.equal((await client.check({})).status, EsServingStatus.SERVING, `${label}: the whole server ({})`);
      const list = await client.list({});
      t.equal(list.statuses["unknown.Status"]?.status, EsServingStatus.UNKNOWN, `${label}: List`);
      const controller = new AbortController();
      for await (const message of client.watch(
        { service: "unknown.Status" },
        { signal: controller.signal },
      )) {
        t.equal(message.status, EsServingStatus.UNKNOWN, `${label}: Watch`);
        break;
      }
      const missing = await client.check({ service: "no.such.Service" }).catch((error: unknown) => error);
      t.ok(missing instanceof ConnectError && missing.code === EsCode.NotFound, `${label}: NOT_FOUND`);
    }
  }
  t.ok(server.health.get("known.Service") === ServingStatus.Serving);
});
