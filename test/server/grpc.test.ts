import http2 from "node:http2";
import { gzipSync } from "node:zlib";
import t from "tap";
import { healthCodecs } from "../../src/codec/health-codecs.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { grpcHeaders, h2request } from "../fixtures/h2-request.ts";
import {
  checkRequestBytes,
  envelope,
  envelopes,
  h1request,
  hex,
  startProbeServer,
  until,
} from "./fixtures/helpers.ts";

const { server, url, calls } = await startProbeServer(t, { maxMessageBytes: 1024 }, { graceMs: 100 });
server.health.set("greet.GreetService", ServingStatus.Serving);
server.health.set("down", ServingStatus.NotServing);

// 00 | 00000014 | 0a 12 "greet.GreetService"
const checkGreet = hex("00 00000014 0a12 6772656574 2e 4772656574536572766963 65");

t.test("Check over h2c: headers, one message, trailers with grpc-status 0", async (t) => {
  t.same(checkGreet, envelope(checkRequestBytes("greet.GreetService")));
  const res = await h2request(url, grpcHeaders("/grpc.health.v1.Health/Check"), checkGreet);
  t.equal(res.status, 200);
  t.equal(res.headers["content-type"], "application/grpc");
  t.equal(res.headers.date, undefined, "no date header");
  t.equal(res.body.toString("hex"), "00000000020801");
  t.equal(res.trailers?.["grpc-status"], "0");
  t.equal(res.trailers?.["grpc-message"], undefined);
});

t.test("Check with +proto and +json answers in the same content-type", async (t) => {
  const proto = await h2request(
    url,
    grpcHeaders("/grpc.health.v1.Health/Check", { "content-type": "application/grpc+proto" }),
    checkGreet,
  );
  t.equal(proto.headers["content-type"], "application/grpc+proto");
  t.equal(proto.body.toString("hex"), "00000000020801");
  const json = await h2request(
    url,
    grpcHeaders("/grpc.health.v1.Health/Check", { "content-type": "application/grpc+json" }),
    envelope(Buffer.from('{"service":"down"}')),
  );
  t.equal(json.headers["content-type"], "application/grpc+json");
  t.same(
    envelopes(json.body).map((e) => e.payload.toString()),
    ['{"status":"NOT_SERVING"}'],
  );
  t.equal(json.trailers?.["grpc-status"], "0");
});

t.test("an error before any message is Trailers-Only", async (t) => {
  const res = await h2request(
    url,
    grpcHeaders("/grpc.health.v1.Health/Check"),
    envelope(checkRequestBytes("nope")),
  );
  t.equal(res.status, 200);
  t.ok(res.endedWithHeaders, "one HEADERS frame with END_STREAM");
  t.equal(res.headers["content-type"], "application/grpc");
  t.equal(res.headers["grpc-status"], "5");
  t.equal(res.headers["grpc-message"], "unknown service");
  t.equal(res.body.length, 0);
  t.equal(res.trailers, undefined);
});

t.test("unknown method and unknown service: UNIMPLEMENTED", async (t) => {
  const method = await h2request(url, grpcHeaders("/grpc.health.v1.Health/Nope"), checkGreet);
  t.equal(method.headers["grpc-status"], "12");
  t.match(method.headers["grpc-message"], /unknown method Nope/);
  const service = await h2request(url, grpcHeaders("/no.Such/Check"), checkGreet);
  t.equal(service.headers["grpc-status"], "12");
  t.match(service.headers["grpc-message"], /unknown service no.Such/);
  const path = await h2request(url, grpcHeaders("/just-a-path"), checkGreet);
  t.equal(path.headers["grpc-status"], "12");
  t.match(path.headers["grpc-message"], /unknown path/);
  const long = await h2request(url, grpcHeaders(`/${"x".repeat(5000)}/M`), checkGreet);
  t.ok(String(long.headers["grpc-message"]).length < 300, "long names are not echoed whole");
});

t.test("non-gRPC content-type: 415; GET: 405 with Allow: POST", async (t) => {
  const bad = await h2request(
    url,
    grpcHeaders("/grpc.health.v1.Health/Check", { "content-type": "text/plain" }),
    checkGreet,
  );
  t.equal(bad.status, 415);
  const none = await h2request(url, { ":path": "/grpc.health.v1.Health/Check" }, checkGreet);
  t.equal(none.status, 415);
  const get = await h2request(url, { ":method": "GET", ":path": "/grpc.health.v1.Health/Check" });
  t.equal(get.status, 405);
  t.equal(get.headers.allow, "POST");
  const put = await h1request(`${url}/grpc.health.v1.Health/Check`, { method: "PUT", body: "x" });
  t.equal(put.status, 405);
  t.equal(put.headers.allow, "POST");
});

t.test(
  "request compression: gzip accepted, unknown encoding UNIMPLEMENTED with grpc-accept-encoding",
  async (t) => {
    const zipped = gzipSync(checkRequestBytes("greet.GreetService"));
    const ok = await h2request(
      url,
      grpcHeaders("/grpc.health.v1.Health/Check", { "grpc-encoding": "gzip" }),
      envelope(zipped, 1),
    );
    t.equal(ok.trailers?.["grpc-status"], "0");
    t.equal(ok.body.toString("hex"), "00000000020801");
    const br = await h2request(
      url,
      grpcHeaders("/grpc.health.v1.Health/Check", { "grpc-encoding": "br" }),
      checkGreet,
    );
    t.equal(br.headers["grpc-status"], "12");
    t.equal(br.headers["grpc-accept-encoding"], "identity,gzip");
    const flagged = await h2request(url, grpcHeaders("/grpc.health.v1.Health/Check"), envelope(zipped, 1));
    t.equal(flagged.headers["grpc-status"], "13", "compressed flag without an encoding: INTERNAL");
    const corrupt = await h2request(
      url,
      grpcHeaders("/grpc.health.v1.Health/Check", { "grpc-encoding": "gzip" }),
      envelope(Buffer.from("not gzip at all"), 1),
    );
    t.equal(corrupt.headers["grpc-status"], "13");
    const bomb = await h2request(
      url,
      grpcHeaders("/grpc.health.v1.Health/Check", { "grpc-encoding": "gzip" }),
      envelope(gzipSync(Buffer.alloc(100_000)), 1),
    );
    t.equal(bomb.headers["grpc-status"], "8", "inflating past the limit: RESOURCE_EXHAUSTED");
  },
);

t.test("framing errors", async (t) => {
  const check = (body: Buffer | Buffer[]) =>
    h2request(url, grpcHeaders("/grpc.health.v1.Health/Check"), body);
  const tooLarge = await check(hex("00 00001000 0a"));
  t.equal(tooLarge.headers["grpc-status"], "8", "length above maxMessageBytes: RESOURCE_EXHAUSTED");
  const truncated = await check(hex("00 ffffffff 0a0b0c0d0e0f10111213"));
  t.equal(truncated.headers["grpc-status"], "8");
  const cut = await check(hex("00 00000014 0a12"));
  t.equal(cut.headers["grpc-status"], "13", "body ends inside the message: INTERNAL");
  const header = await check(hex("00 0000"));
  t.equal(header.headers["grpc-status"], "13", "body ends inside the header: INTERNAL");
  const flags = await check(hex("04 00000000"));
  t.equal(flags.headers["grpc-status"], "13", "reserved flag: INTERNAL");
  const empty = await check(Buffer.alloc(0));
  t.equal(empty.headers["grpc-status"], "13", "no message: INTERNAL");
  t.match(empty.headers["grpc-message"], /missing request message/);
  const two = await check(Buffer.concat([checkGreet, checkGreet]));
  t.equal(two.headers["grpc-status"], "13", "two messages on a unary method: INTERNAL");
  const garbage = await check(envelope(hex("0aff")));
  t.equal(garbage.headers["grpc-status"], "13", "protobuf garbage: INTERNAL");
  const badJson = await h2request(
    url,
    grpcHeaders("/grpc.health.v1.Health/Check", { "content-type": "application/grpc+json" }),
    envelope(Buffer.from('{"service":5}')),
  );
  t.equal(badJson.headers["grpc-status"], "13");
  // The message split over many DATA frames, at every offset.
  const parts = [...checkGreet].map((byte) => Buffer.from([byte]));
  const split = await check(parts);
  t.equal(split.body.toString("hex"), "00000000020801");
});

t.test("headers: grpc-timeout, -bin metadata, metadata passed and returned", async (t) => {
  const bad = await h2request(
    url,
    grpcHeaders("/grpc.health.v1.Health/Check", { "grpc-timeout": "10x" }),
    checkGreet,
  );
  t.equal(bad.headers["grpc-status"], "13", "malformed grpc-timeout: INTERNAL");
  const bin = await h2request(
    url,
    grpcHeaders("/grpc.health.v1.Health/Check", { "x-data-bin": "!!!" }),
    checkGreet,
  );
  t.equal(bin.headers["grpc-status"], "13", "invalid base64 in -bin metadata: INTERNAL");
  const goodBin = await h2request(
    url,
    grpcHeaders("/grpc.health.v1.Health/Check", { "x-data-bin": "AAEC" }),
    checkGreet,
  );
  t.equal(goodBin.trailers?.["grpc-status"], "0");
  const meta = await h2request(
    url,
    grpcHeaders("/test.Probe/Greet", {
      "x-echo": "hi",
      "tri-service-group": "g1",
      "tri-service-version": "v2",
      "grpc-timeout": "5S",
    }),
    envelope(Buffer.from([0x0a, 4, ...Buffer.from("meta")])),
  );
  t.equal(meta.headers["x-head"], "h1");
  t.equal(meta.trailers?.["x-tail"], "t1");
  const [message] = envelopes(meta.body);
  const text = message!.payload.subarray(2).toString();
  t.match(text, /^grpc\|2\|g1\|v2\|hi\|deadline\|127\.0\.0\.1\|test\.Probe\/Greet$/);
  t.ok((calls.last?.deadline ?? 0) > Date.now(), "deadline in the future");
});

t.test("handler errors: codes, messages percent-encoded, plain errors UNKNOWN", async (t) => {
  const greet = (name: string) =>
    h2request(
      url,
      grpcHeaders("/test.Probe/Greet"),
      envelope(Buffer.from([0x0a, Buffer.byteLength(name), ...Buffer.from(name)])),
    );
  const denied = await greet("fail:7:naïve 100%");
  t.equal(denied.headers["grpc-status"], "7");
  t.equal(denied.headers["grpc-message"], "na%C3%AFve 100%25");
  const thrown = await greet("throw");
  t.equal(thrown.headers["grpc-status"], "2");
  t.equal(thrown.headers["grpc-message"], "boom");
  const badMeta = await greet("badmeta");
  t.equal(badMeta.headers["grpc-status"], "13", "invalid response metadata: INTERNAL");
  const badOut = await greet("badout");
  t.ok(["0", "13"].includes(String(badOut.trailers?.["grpc-status"] ?? badOut.headers["grpc-status"])));
});

t.test(
  "deadline: a timeout on a slow unary call gives DEADLINE_EXCEEDED and aborts the handler",
  async (t) => {
    const before = calls.aborted;
    const res = await h2request(
      url,
      grpcHeaders("/test.Probe/Greet", { "grpc-timeout": "50m" }),
      envelope(Buffer.from([0x0a, 10, ...Buffer.from("slow:10000")])),
    );
    t.equal(res.headers["grpc-status"], "4");
    await until(() => calls.aborted === before + 1);
    t.equal(calls.last?.signal.aborted, true);
  },
);

t.test("Watch: the current status, changes, and a timeout after the first message", async (t) => {
  server.health.set("w1", ServingStatus.Serving);
  const session = http2.connect(url);
  t.teardown(() => session.close());
  const stream = session.request(grpcHeaders("/grpc.health.v1.Health/Watch"));
  stream.end(envelope(checkRequestBytes("w1")));
  const seen: number[] = [];
  stream.on("data", (chunk: Buffer) => {
    for (const { payload } of envelopes(chunk))
      seen.push(healthCodecs.checkResponse.decodeBinary(payload).status);
  });
  await until(() => seen.length === 1);
  t.equal(server.health.watcherCount, 1);
  server.health.set("w1", ServingStatus.NotServing);
  await until(() => seen.length === 2);
  t.same(seen, [ServingStatus.Serving, ServingStatus.NotServing]);
  // The client resets the stream: the watcher is freed at once.
  stream.close(http2.constants.NGHTTP2_CANCEL);
  await until(() => server.health.watcherCount === 0);
  t.equal(server.handler.activeStreams, 0);

  const timed = await h2request(
    url,
    grpcHeaders("/grpc.health.v1.Health/Watch", { "grpc-timeout": "30m" }),
    envelope(checkRequestBytes("w1")),
  );
  t.equal(envelopes(timed.body).length, 1, "the first message went out");
  t.equal(timed.trailers?.["grpc-status"], "4", "then DEADLINE_EXCEEDED in the trailers");
  await until(() => server.health.watcherCount === 0);
});

t.test("a client that destroys the connection frees every watcher", async (t) => {
  const session = http2.connect(url);
  const streams = [];
  for (let i = 0; i < 20; i++) {
    const stream = session.request(grpcHeaders("/grpc.health.v1.Health/Watch"));
    stream.on("error", () => {});
    stream.end(envelope(checkRequestBytes(i % 2 === 0 ? "w1" : "unknown-yet")));
    streams.push(stream);
  }
  await until(() => server.health.watcherCount === 20);
  session.destroy();
  await until(() => server.health.watcherCount === 0);
  t.equal(server.handler.activeStreams, 0);
});

t.test("server streaming: messages, trailers, errors after messages, trailers-only errors", async (t) => {
  const count = (spec: string, extra = {}) =>
    h2request(url, grpcHeaders("/test.Probe/Count", extra), envelope(checkRequestBytes(spec)));
  const three = await count("3meta");
  t.same(
    envelopes(three.body).map((e) => e.payload.toString("hex")),
    ["0801", "0802", "0803"],
  );
  t.equal(three.trailers?.["grpc-status"], "0");
  t.equal(three.trailers?.["x-end"], "e1");
  const none = await count("0");
  t.equal(none.body.length, 0);
  t.equal(none.trailers?.["grpc-status"], "0", "an empty stream still ends with trailers");
  const failLate = await count("2fail");
  t.equal(envelopes(failLate.body).length, 2);
  t.equal(failLate.trailers?.["grpc-status"], "15");
  t.equal(failLate.trailers?.["grpc-message"], "lost");
  const failFirst = await count("fail-first");
  t.ok(failFirst.endedWithHeaders);
  t.equal(failFirst.headers["grpc-status"], "7");
  const badSend = await count("1badsend");
  t.equal(badSend.trailers?.["grpc-status"], "13");
  const flood = await count("flood", { "grpc-timeout": "20S" });
  t.equal(envelopes(flood.body).length, 2000, "a stream larger than the window waits for drain");
  t.equal(flood.trailers?.["grpc-status"], "0");
});

t.test("a streaming handler sees its sends rejected once the call has ended", async (t) => {
  const before = calls.aborted;
  const session = http2.connect(url);
  const stream = session.request(grpcHeaders("/test.Probe/Count"));
  stream.on("error", () => {});
  stream.end(envelope(checkRequestBytes("1hang")));
  await new Promise((resolve) => stream.once("data", resolve));
  stream.close(http2.constants.NGHTTP2_CANCEL);
  await until(() => calls.aborted === before + 2);
  session.close();
  t.pass("abort seen and the late send rejected");
});

t.test("a cancelled unary call aborts the handler", async (t) => {
  const before = calls.aborted;
  const session = http2.connect(url);
  const stream = session.request(grpcHeaders("/test.Probe/Greet"));
  stream.on("error", () => {});
  stream.end(envelope(Buffer.from([0x0a, 4, ...Buffer.from("hang")])));
  await until(() => calls.last !== undefined && calls.last.method === "Greet");
  await new Promise((resolve) => setTimeout(resolve, 20));
  stream.close(http2.constants.NGHTTP2_CANCEL);
  await until(() => calls.aborted === before + 1);
  session.close();
  t.equal((calls.last!.signal.reason as Error).message, "[CANCELLED] the client cancelled the call");
});

t.test("gRPC over HTTP/1.1: chunked body with HTTP trailers", async (t) => {
  const unary = await h1request(`${url}/grpc.health.v1.Health/Check`, {
    headers: { "content-type": "application/grpc", te: "trailers" },
    body: checkGreet,
  });
  t.equal(unary.status, 200);
  t.equal(unary.headers["transfer-encoding"], "chunked");
  t.equal(unary.body.toString("hex"), "00000000020801");
  t.equal(unary.trailers["grpc-status"], "0");
  const stream = await h1request(`${url}/test.Probe/Count`, {
    headers: { "content-type": "application/grpc" },
    body: envelope(checkRequestBytes("2")),
  });
  t.equal(envelopes(stream.body).length, 2);
  t.equal(stream.trailers["grpc-status"], "0");
  t.match(stream.headers.trailer, /grpc-status/);
  const late = await h1request(`${url}/test.Probe/Count`, {
    headers: { "content-type": "application/grpc" },
    body: envelope(checkRequestBytes("1fail")),
  });
  t.equal(late.trailers["grpc-status"], "15");
  const flood = await h1request(`${url}/test.Probe/Count`, {
    headers: { "content-type": "application/grpc-web" },
    body: envelope(checkRequestBytes("flood")),
  });
  t.equal(envelopes(flood.body).length, 2001, "HTTP/1.1 backpressure: waits for drain");
});
