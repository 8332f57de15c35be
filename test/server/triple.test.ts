import http2 from "node:http2";
import { gzipSync } from "node:zlib";
import t from "tap";
import { healthCodecs } from "../../src/codec/health-codecs.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { h2request } from "../fixtures/h2-request.ts";
import {
  checkRequestBytes,
  envelope,
  envelopes,
  h1request,
  startProbeServer,
  until,
} from "./fixtures/helpers.ts";

const { server, url, calls } = await startProbeServer(t, { maxMessageBytes: 1024 }, { graceMs: 100 });
server.health.set("greet.GreetService", ServingStatus.Serving);

const json = { "content-type": "application/json" };

t.test("triple unary JSON over HTTP/1.1: the seed's curl request", async (t) => {
  const res = await h1request(`${url}/grpc.health.v1.Health/Check`, {
    headers: json,
    body: '{"service":"greet.GreetService"}',
  });
  t.equal(res.status, 200);
  t.equal(res.headers["content-type"], "application/json");
  t.equal(res.headers["content-length"], "20");
  t.equal(res.headers.date, undefined);
  t.equal(res.body.toString(), '{"status":"SERVING"}');
});

t.test("triple unary proto over HTTP/2 and HTTP/1.1, charset accepted", async (t) => {
  const h2 = await h2request(
    url,
    { ":path": "/grpc.health.v1.Health/Check", "content-type": "application/proto" },
    checkRequestBytes("greet.GreetService"),
  );
  t.equal(h2.status, 200);
  t.equal(h2.headers["content-type"], "application/proto");
  t.equal(h2.body.toString("hex"), "0801");
  const h1 = await h1request(`${url}/grpc.health.v1.Health/Check`, {
    headers: { "content-type": "application/json; charset=utf-8" },
    body: "{}",
  });
  t.equal(h1.status, 200);
  t.equal(h1.body.toString(), '{"status":"SERVING"}', "the empty name is the whole server");
  const badCharset = await h1request(`${url}/grpc.health.v1.Health/Check`, {
    headers: { "content-type": "application/json; charset=latin1" },
    body: "{}",
  });
  t.equal(badCharset.status, 415);
});

t.test("errors: JSON body with string code and numeric status, mapped HTTP status", async (t) => {
  const notFound = await h1request(`${url}/grpc.health.v1.Health/Check`, {
    headers: json,
    body: '{"service":"nope"}',
  });
  t.equal(notFound.status, 404);
  t.equal(notFound.headers["content-type"], "application/json");
  t.same(JSON.parse(notFound.body.toString()), { code: "not_found", status: 5, message: "unknown service" });
  const unimplemented = await h1request(`${url}/grpc.health.v1.Health/Nope`, { headers: json, body: "{}" });
  t.equal(unimplemented.status, 404);
  t.equal(JSON.parse(unimplemented.body.toString()).code, "unimplemented");
  t.equal(JSON.parse(unimplemented.body.toString()).status, 12);
  const badJson = await h1request(`${url}/grpc.health.v1.Health/Check`, {
    headers: json,
    body: '{"service":5}',
  });
  t.equal(badJson.status, 400);
  t.equal(JSON.parse(badJson.body.toString()).code, "invalid_argument");
  const notJson = await h1request(`${url}/grpc.health.v1.Health/Check`, { headers: json, body: "{" });
  t.equal(notJson.status, 400);
  const badProto = await h1request(`${url}/grpc.health.v1.Health/Check`, {
    headers: { "content-type": "application/proto" },
    body: Buffer.from("0aff", "hex"),
  });
  t.equal(badProto.status, 400, "protobuf garbage: invalid_argument");
  const tooLarge = await h1request(`${url}/grpc.health.v1.Health/Check`, {
    headers: json,
    body: JSON.stringify({ service: "x".repeat(2000) }),
  });
  t.equal(tooLarge.status, 429);
  t.equal(JSON.parse(tooLarge.body.toString()).code, "resource_exhausted");
  const empty = await h1request(`${url}/test.Probe/Greet`, { headers: json, body: '{"name":"fail:6"}' });
  t.equal(empty.status, 409);
  t.same(
    JSON.parse(empty.body.toString()),
    { code: "already_exists", status: 6 },
    "no message key when empty",
  );
});

t.test("version headers accepted, a wrong value is invalid_argument", async (t) => {
  for (const [name, value] of [
    ["triple-protocol-version", "0.1.0"],
    ["tri-protocol-version", "1.0.0"],
    ["connect-protocol-version", "1"],
  ] as const) {
    const ok = await h1request(`${url}/grpc.health.v1.Health/Check`, {
      headers: { ...json, [name]: value },
      body: "{}",
    });
    t.equal(ok.status, 200, `${name}: ${value}`);
    const bad = await h1request(`${url}/grpc.health.v1.Health/Check`, {
      headers: { ...json, [name]: "9.9.9" },
      body: "{}",
    });
    t.equal(bad.status, 400, `${name}: 9.9.9`);
    t.equal(JSON.parse(bad.body.toString()).code, "invalid_argument");
  }
});

t.test("timeout headers of the three dialects are honoured", async (t) => {
  for (const name of ["triple-timeout-ms", "tri-service-timeout", "connect-timeout-ms"]) {
    const res = await h1request(`${url}/test.Probe/Greet`, {
      headers: { ...json, [name]: "40" },
      body: '{"name":"slow:5000"}',
    });
    t.equal(res.status, 408, name);
    t.equal(JSON.parse(res.body.toString()).code, "deadline_exceeded");
    const bad = await h1request(`${url}/test.Probe/Greet`, {
      headers: { ...json, [name]: "12345678901" },
      body: '{"name":"x"}',
    });
    t.equal(bad.status, 400, `${name} with 11 digits`);
  }
});

t.test("metadata, Trailer- headers, group and version reach the handler", async (t) => {
  const res = await h1request(`${url}/test.Probe/Greet`, {
    headers: { ...json, "x-echo": "e", "tri-service-group": "grp", "tri-service-version": "1.2" },
    body: '{"name":"meta"}',
  });
  t.equal(res.status, 200);
  t.equal(res.headers["x-head"], "h1");
  t.equal(res.headers["trailer-x-tail"], "t1");
  t.match(JSON.parse(res.body.toString()).greeting, /^triple\|1\.1\|grp\|1\.2\|e\|none\|/);
  const failed = await h1request(`${url}/test.Probe/Greet`, { headers: json, body: '{"name":"badmeta"}' });
  t.equal(failed.status, 500, "invalid response metadata: internal");
});

t.test("request compression: Content-Encoding gzip, unknown encoding unimplemented", async (t) => {
  const ok = await h1request(`${url}/grpc.health.v1.Health/Check`, {
    headers: { ...json, "content-encoding": "gzip" },
    body: gzipSync('{"service":"greet.GreetService"}'),
  });
  t.equal(ok.body.toString(), '{"status":"SERVING"}');
  const br = await h1request(`${url}/grpc.health.v1.Health/Check`, {
    headers: { ...json, "content-encoding": "br" },
    body: "{}",
  });
  t.equal(br.status, 404);
  t.equal(JSON.parse(br.body.toString()).code, "unimplemented");
  t.equal(br.headers["accept-encoding"], "identity,gzip");
});

t.test("415 and 405 over HTTP/1.1; a streaming method refuses the unary content-type", async (t) => {
  const bad = await h1request(`${url}/grpc.health.v1.Health/Check`, {
    headers: { "content-type": "text/plain" },
    body: "x",
  });
  t.equal(bad.status, 415);
  const get = await h1request(`${url}/grpc.health.v1.Health/Check`, { method: "GET" });
  t.equal(get.status, 405);
  t.equal(get.headers.allow, "POST");
  const unary = await h1request(`${url}/grpc.health.v1.Health/Watch`, { headers: json, body: "{}" });
  t.equal(unary.status, 415);
});

const connect = (codec: "proto" | "json") => ({ "content-type": `application/connect+${codec}` });

t.test("Connect streaming Watch (dubbo-js / connect-es): envelopes, then end-stream", async (t) => {
  server.health.set("cw", ServingStatus.Serving);
  const session = http2.connect(url);
  t.teardown(() => session.close());
  const stream = session.request({
    ":method": "POST",
    ":path": "/grpc.health.v1.Health/Watch",
    ...connect("json"),
    "tri-protocol-version": "1.0.0",
  });
  stream.end(envelope(Buffer.from('{"service":"cw"}')));
  let headers: http2.IncomingHttpHeaders = {};
  stream.on("response", (h) => {
    headers = h;
  });
  const messages: { flags: number; text: string }[] = [];
  stream.on("data", (chunk: Buffer) => {
    for (const e of envelopes(chunk)) messages.push({ flags: e.flags, text: e.payload.toString() });
  });
  await until(() => messages.length === 1);
  t.equal(headers["content-type"], "application/connect+json");
  t.same(messages[0], { flags: 0, text: '{"status":"SERVING"}' });
  server.health.set("cw", ServingStatus.NotServing);
  await until(() => messages.length === 2);
  t.equal(messages[1]!.text, '{"status":"NOT_SERVING"}');
  stream.close(http2.constants.NGHTTP2_CANCEL);
  await until(() => server.health.watcherCount === 0);
});

t.test("Connect streaming: end-stream with error and metadata; errors before a message too", async (t) => {
  const count = (spec: string, headers = {}) =>
    h2request(
      url,
      { ":path": "/test.Probe/Count", ...connect("proto"), ...headers },
      envelope(checkRequestBytes(spec)),
    );
  const ok = await count("2meta");
  t.equal(ok.status, 200);
  const list = envelopes(ok.body);
  t.same(
    list.map((e) => e.flags),
    [0, 0, 2],
  );
  t.same(JSON.parse(list[2]!.payload.toString()), { metadata: { "x-end": ["e1"] } });
  const late = await count("1fail");
  const lateList = envelopes(late.body);
  t.equal(lateList.length, 2);
  t.same(JSON.parse(lateList[1]!.payload.toString()), {
    error: { code: "data_loss", status: 15, message: "lost" },
  });
  const early = await count("fail-first");
  t.equal(early.status, 200, "streaming errors keep HTTP 200");
  const earlyList = envelopes(early.body);
  t.equal(earlyList.length, 1);
  t.equal(earlyList[0]!.flags, 2);
  t.same(JSON.parse(earlyList[0]!.payload.toString()).error, {
    code: "permission_denied",
    status: 7,
    message: "nope",
  });
  const empty = await count("0");
  t.same(
    envelopes(empty.body).map((e) => [e.flags, e.payload.toString()]),
    [[2, "{}"]],
  );
  const timed = await count("1hang", { "tri-service-timeout": "30" });
  t.equal(JSON.parse(envelopes(timed.body).at(-1)!.payload.toString()).error.code, "deadline_exceeded");
  const br = await count("1", { "connect-content-encoding": "br" });
  t.equal(br.headers["connect-accept-encoding"], "identity,gzip");
  t.equal(JSON.parse(envelopes(br.body)[0]!.payload.toString()).error.code, "unimplemented");
  const zipped = await count("1", { "connect-content-encoding": "gzip" });
  t.same(
    envelopes(zipped.body).map((e) => e.flags),
    [0, 2],
    "an uncompressed envelope is fine with an encoding negotiated",
  );
});

t.test("Connect streaming content-type on a unary method: one message and end-stream", async (t) => {
  const res = await h1request(`${url}/grpc.health.v1.Health/Check`, {
    headers: connect("proto"),
    body: envelope(checkRequestBytes("greet.GreetService")),
  });
  t.equal(res.status, 200);
  t.same(
    envelopes(res.body).map((e) => [e.flags, e.payload.toString("hex")]),
    [
      [0, "0801"],
      [2, Buffer.from("{}").toString("hex")],
    ],
  );
  const err = await h1request(`${url}/grpc.health.v1.Health/Check`, {
    headers: connect("json"),
    body: envelope(Buffer.from('{"service":"nope"}')),
  });
  t.equal(err.status, 200);
  t.same(JSON.parse(envelopes(err.body)[0]!.payload.toString()), {
    error: { code: "not_found", status: 5, message: "unknown service" },
  });
});

t.test("Watch over HTTP/1.1 Connect streaming, client disconnect frees the watcher", async (t) => {
  const http = await import("node:http");
  const seen: number[] = [];
  const request = http.request(`${url}/grpc.health.v1.Health/Watch`, {
    method: "POST",
    headers: connect("proto"),
    agent: false,
  });
  request.on("error", () => {});
  request.on("response", (response) => {
    response.on("data", (chunk: Buffer) => {
      for (const e of envelopes(chunk)) seen.push(healthCodecs.checkResponse.decodeBinary(e.payload).status);
    });
    response.on("error", () => {});
  });
  request.end(envelope(checkRequestBytes("greet.GreetService")));
  await until(() => seen.length === 1 && server.health.watcherCount === 1);
  request.destroy();
  await until(() => server.health.watcherCount === 0);
  t.equal(seen[0], ServingStatus.Serving);
  t.equal(calls.aborted >= 0, true);
});
