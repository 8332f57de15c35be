import t from "tap";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { h2request } from "../fixtures/h2-request.ts";
import { checkRequestBytes, envelope, envelopes, h1request, startProbeServer } from "./fixtures/helpers.ts";

const { server, url } = await startProbeServer(
  t,
  {
    cors: { allowedOrigins: ["https://app.example"], maxAgeSeconds: 60 },
  },
  { graceMs: 100 },
);
server.health.set("greet.GreetService", ServingStatus.Serving);

const web = { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" };
const trailerText = (payload: Buffer) => payload.toString("latin1");

t.test("gRPC-Web over HTTP/1.1: message then a 0x80 trailer frame", async (t) => {
  const res = await h1request(`${url}/grpc.health.v1.Health/Check`, {
    headers: web,
    body: envelope(checkRequestBytes("greet.GreetService")),
  });
  t.equal(res.status, 200);
  t.equal(res.headers["content-type"], "application/grpc-web+proto");
  // 00 00000002 0801 | 80 0000000f "grpc-status: 0\r\n"
  t.equal(
    res.body.toString("hex"),
    `000000000208018000000010${Buffer.from("grpc-status: 0\r\n").toString("hex")}`,
  );
});

t.test("gRPC-Web over HTTP/2, errors in the trailer frame", async (t) => {
  const res = await h2request(
    url,
    { ":path": "/grpc.health.v1.Health/Check", "content-type": "application/grpc-web" },
    envelope(checkRequestBytes("nope")),
  );
  t.equal(res.status, 200);
  t.equal(res.headers["content-type"], "application/grpc-web");
  const list = envelopes(res.body);
  t.equal(list.length, 1);
  t.equal(list[0]!.flags, 0x80);
  t.equal(trailerText(list[0]!.payload), "grpc-status: 5\r\ngrpc-message: unknown service\r\n");
});

t.test("gRPC-Web JSON and server streaming", async (t) => {
  const res = await h1request(`${url}/test.Probe/Count`, {
    headers: { "content-type": "application/grpc-web+json" },
    body: envelope(Buffer.from('{"service":"2meta"}')),
  });
  const list = envelopes(res.body);
  t.same(
    list.map((e) => e.flags),
    [0, 0, 0x80],
  );
  t.equal(list[0]!.payload.toString(), '{"status":"SERVING"}');
  t.equal(trailerText(list[2]!.payload), "grpc-status: 0\r\nx-end: e1\r\n");
  const plain = await h1request(`${url}/test.Probe/Count`, {
    headers: web,
    body: envelope(checkRequestBytes("1")),
  });
  t.equal(trailerText(envelopes(plain.body)[1]!.payload), "grpc-status: 0\r\n");
  const late = await h1request(`${url}/test.Probe/Count`, {
    headers: web,
    body: envelope(checkRequestBytes("1fail")),
  });
  t.equal(trailerText(envelopes(late.body)[1]!.payload), "grpc-status: 15\r\ngrpc-message: lost\r\n");
  const meta = await h1request(`${url}/test.Probe/Greet`, {
    headers: web,
    body: envelope(Buffer.from([0x0a, 4, ...Buffer.from("meta")])),
  });
  t.equal(meta.headers["x-head"], "h1");
  t.equal(trailerText(envelopes(meta.body)[1]!.payload), "grpc-status: 0\r\nx-tail: t1\r\n");
});

t.test("gRPC-Web-Text: base64 both ways, several padded segments accepted", async (t) => {
  const request = envelope(checkRequestBytes("greet.GreetService"));
  // Two base64 segments, the first one padded, as a client writing in two pieces sends them.
  const text = `${request.subarray(0, 7).toString("base64")}\n${request.subarray(7).toString("base64")}`;
  const res = await h1request(`${url}/grpc.health.v1.Health/Check`, {
    headers: { "content-type": "application/grpc-web-text" },
    body: text,
  });
  t.equal(res.status, 200);
  t.equal(res.headers["content-type"], "application/grpc-web-text");
  const body = Buffer.from(res.body.toString(), "base64");
  t.equal(body.subarray(0, 7).toString("hex"), "00000000020801");
  t.equal(trailerText(envelopes(body)[1]!.payload), "grpc-status: 0\r\n");
  const bad = await h1request(`${url}/grpc.health.v1.Health/Check`, {
    headers: { "content-type": "application/grpc-web-text" },
    body: "%%%not base64",
  });
  t.equal(
    trailerText(envelopes(Buffer.from(bad.body.toString(), "base64"))[0]!.payload).split("\r\n")[0],
    "grpc-status: 13",
  );
  const stream = await h1request(`${url}/test.Probe/Count`, {
    headers: { "content-type": "application/grpc-web-text+proto" },
    body: envelope(checkRequestBytes("2")).toString("base64"),
  });
  // Each write is its own base64 segment.
  const segments = stream.body.toString().match(/[^=]+=*/g) ?? [];
  const decoded = Buffer.concat(segments.map((s) => Buffer.from(s, "base64")));
  t.same(
    envelopes(decoded).map((e) => e.flags),
    [0, 0, 0x80],
  );
  const tooLong = await h1request(`${url}/grpc.health.v1.Health/Check`, {
    headers: { "content-type": "application/grpc-web-text" },
    body: "A".repeat(6 * 1024 * 1024),
  });
  t.match(Buffer.from(tooLong.body.toString(), "base64").toString("latin1"), /grpc-status: 8/);
});

t.test("CORS: preflight for allowed origins, headers on responses, 403 for others", async (t) => {
  const preflight = await h1request(`${url}/grpc.health.v1.Health/Check`, {
    method: "OPTIONS",
    headers: {
      origin: "https://app.example",
      "access-control-request-method": "POST",
      "access-control-request-headers": "x-custom",
    },
  });
  t.equal(preflight.status, 204);
  t.equal(preflight.headers["access-control-allow-origin"], "https://app.example");
  t.equal(preflight.headers["access-control-allow-methods"], "POST");
  t.match(preflight.headers["access-control-allow-headers"], /x-grpc-web.*x-custom/);
  t.equal(preflight.headers["access-control-max-age"], "60");
  const denied = await h1request(`${url}/grpc.health.v1.Health/Check`, {
    method: "OPTIONS",
    headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
  });
  t.equal(denied.status, 403);
  const res = await h1request(`${url}/grpc.health.v1.Health/Check`, {
    headers: { ...web, origin: "https://app.example" },
    body: envelope(checkRequestBytes("")),
  });
  t.equal(res.headers["access-control-allow-origin"], "https://app.example");
  t.match(res.headers["access-control-expose-headers"], /grpc-status, grpc-message/);
  const stream = await h2request(
    url,
    { ":path": "/test.Probe/Count", ...web, origin: "https://app.example" },
    envelope(checkRequestBytes("1")),
  );
  t.equal(stream.headers["access-control-allow-origin"], "https://app.example");
  const other = await h1request(`${url}/grpc.health.v1.Health/Check`, {
    headers: { ...web, origin: "https://evil.example" },
    body: envelope(checkRequestBytes("")),
  });
  t.equal(other.headers["access-control-allow-origin"], undefined);
});

t.test("CORS exchange passes everything through for calls and streams", async (t) => {
  const origin = { origin: "https://app.example" };
  const meta = await h2request(
    url,
    { ":path": "/test.Probe/Greet", ...web, ...origin },
    envelope(Buffer.from([0x0a, 4, ...Buffer.from("meta")])),
  );
  t.match(envelopes(meta.body)[0]!.payload.toString(), /grpc-web\|2\|/);
  t.equal(meta.headers["access-control-allow-origin"], "https://app.example");
  const flood = await h2request(
    url,
    { ":path": "/test.Probe/Count", ...web, ...origin },
    envelope(checkRequestBytes("flood")),
  );
  t.equal(envelopes(flood.body).length, 2001);
  const tooLarge = await h1request(`${url}/grpc.health.v1.Health/Check`, {
    headers: { ...web, ...origin },
    body: envelope(Buffer.alloc(5 * 1024 * 1024)),
  });
  t.match(trailerText(envelopes(tooLarge.body)[0]!.payload), /grpc-status: 8/);
});
