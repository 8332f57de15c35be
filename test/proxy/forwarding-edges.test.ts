// The proxy against a raw node:http2 upstream that misbehaves on purpose (refuses streams, resets
// mid-response, forgets trailers, answers 503, sends and takes megabytes), with the upstream's
// health scripted so only the forwarding is under test.
import http2 from "node:http2";
import t, { type Test } from "tap";
import { instrumentProxy } from "../../src/host/proxy-metrics.ts";
import { createTripleProxy, type TripleProxy } from "../../src/host/triple-proxy.ts";
import { renderMetrics } from "../../src/metrics/exposition.ts";
import { MetricRegistry } from "../../src/metrics/metric-registry.ts";
import {
  endsWithTrailers,
  forwardedResponseHeaders,
  upstreamRequestHeaders,
} from "../../src/proxy/hop-headers.ts";
import { alwaysServing } from "../fixtures/always-serving.ts";
import { h2exchange } from "../fixtures/h2-request.ts";
import { listenLocal } from "../fixtures/start-server.ts";

const { NGHTTP2_REFUSED_STREAM, NGHTTP2_INTERNAL_ERROR } = http2.constants;

interface RawUpstream {
  readonly url: string;
  readonly paths: string[];
  readonly received: number[];
}

async function rawUpstream(
  t: Test,
  behave: (stream: http2.ServerHttp2Stream, path: string) => void,
): Promise<RawUpstream> {
  const server = http2.createServer();
  const upstream: RawUpstream = { url: "", paths: [], received: [] };
  server.on("stream", (stream, headers) => {
    const path = headers[":path"] ?? "";
    upstream.paths.push(path);
    let bytes = 0;
    stream.on("data", (chunk: Buffer) => (bytes += chunk.length));
    stream.on("end", () => upstream.received.push(bytes));
    stream.on("error", () => {});
    behave(stream, path);
  });
  return Object.assign(upstream, { url: (await listenLocal(server, t)).url });
}

async function proxyFor(
  t: Test,
  upstreams: string[],
  options: { maxAttempts?: number } = {},
): Promise<{ proxy: TripleProxy; url: string }> {
  const proxy = createTripleProxy({
    upstreams,
    service: "greet.GreetService",
    picker: { healthSource: alwaysServing, outlier: { consecutiveFailures: 0 } },
    ...options,
  });
  await proxy.picker.ready();
  const { port } = await proxy.listen(0);
  t.teardown(() => proxy.close({ graceMs: 50 }));
  return { proxy, url: `http://127.0.0.1:${port}` };
}

/** One POST through the proxy; whatever comes back, errors and resets included. */
function rawCall(url: string, path: string, headers: http2.OutgoingHttpHeaders, body: Buffer) {
  return h2exchange(
    url,
    { ":method": "POST", ":path": path, ...headers },
    {
      body,
      timeoutMs: Number.POSITIVE_INFINITY,
    },
  );
}

t.test("a refused stream is retried on another upstream with the same bytes", async (t) => {
  const refusing = await rawUpstream(t, (stream) => stream.close(NGHTTP2_REFUSED_STREAM));
  const good = await rawUpstream(t, (stream) => {
    stream.on("end", () => {
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(Buffer.from([0, 0, 0, 0, 0]));
    });
    stream.resume();
  });
  const { proxy, url } = await proxyFor(t, [refusing.url, good.url]);
  const body = Buffer.alloc(1000, 7);
  for (let i = 0; i < 4; i++) {
    const result = await rawCall(
      url,
      "/greet.GreetService/Greet",
      { "content-type": "application/grpc", te: "trailers" },
      body,
    );
    t.equal(result.trailers?.["grpc-status"], "0");
  }
  t.ok(proxy.stats.retried >= 1, "refused attempts retried");
  t.ok(
    good.received.every((n) => n === 1000),
    "the replayed body arrived whole",
  );
  t.equal(proxy.stats.unavailable, 0);
});

t.test("only a bounded body is replayed; one upstream only: UNAVAILABLE", async (t) => {
  const refusing = await rawUpstream(t, (stream) => stream.close(NGHTTP2_REFUSED_STREAM));
  const { proxy, url } = await proxyFor(t, [refusing.url], { maxAttempts: 1 });
  const result = await rawCall(
    url,
    "/greet.GreetService/Greet",
    { "content-type": "application/grpc" },
    Buffer.alloc(10),
  );
  t.equal(result.headers["grpc-status"], "14");
  t.match(result.headers["grpc-message"], /failed before answering/);
  t.equal(proxy.stats.unavailable, 1);
});

t.test("mid-response failures: gRPC gets trailers, others a reset", async (t) => {
  const upstream = await rawUpstream(t, (stream, path) => {
    stream.resume();
    const grpc = path.includes("Grpc");
    stream.respond({
      ":status": 200,
      "content-type": grpc ? "application/grpc" : "application/connect+proto",
    });
    stream.write(Buffer.from([0, 0, 0, 0, 0]));
    if (path.endsWith("NoTrailers")) stream.end();
    // node's client reports a peer's RST_STREAM after DATA as a clean end (rstCode 0); a dead
    // connection shows as CANCEL. Both must reach the caller as a failure.
    else if (path.endsWith("Reset")) setTimeout(() => stream.close(NGHTTP2_INTERNAL_ERROR), 20);
    else setTimeout(() => stream.session?.destroy(), 20);
  });
  const { proxy, url } = await proxyFor(t, [upstream.url]);
  const noTrailers = await rawCall(
    url,
    "/x.Y/GrpcNoTrailers",
    { "content-type": "application/grpc" },
    Buffer.alloc(5),
  );
  t.equal(noTrailers.trailers?.["grpc-status"], "14");
  t.equal(noTrailers.trailers?.["grpc-message"], "upstream response ended without trailers");
  const grpcReset = await rawCall(
    url,
    "/x.Y/GrpcReset",
    { "content-type": "application/grpc" },
    Buffer.alloc(5),
  );
  t.equal(grpcReset.trailers?.["grpc-status"], "14");
  t.match(grpcReset.trailers?.["grpc-message"], /^upstream (stream reset|response ended without trailers)/);
  const connect = await rawCall(
    url,
    "/x.Y/ConnectDies",
    { "content-type": "application/connect+proto" },
    Buffer.alloc(5),
  );
  t.equal(connect.body.length, 5, "what came before the reset was passed on");
  // The proxy resets the caller's stream (RST_STREAM INTERNAL_ERROR), but node's client shows a reset
  // after DATA as a clean end, so the count below is what tells.
  const grpcDies = await rawCall(
    url,
    "/x.Y/GrpcDies",
    { "content-type": "application/grpc" },
    Buffer.alloc(5),
  );
  t.match(grpcDies.trailers?.["grpc-message"], /^upstream stream reset \(HTTP\/2 code \d+\)/);
  t.equal(proxy.stats.broken, 4);
});

t.test("an upstream's Trailers-Only answer stays Trailers-Only", async (t) => {
  const upstream = await rawUpstream(t, (stream) => {
    stream.resume();
    stream.respond(
      { ":status": 200, "content-type": "application/grpc", "grpc-status": "5", "grpc-message": "nope" },
      { endStream: true },
    );
  });
  const { url } = await proxyFor(t, [upstream.url]);
  const session = http2.connect(url);
  t.teardown(() => session.close());
  const stream = session.request({
    ":method": "POST",
    ":path": "/x.Y/Z",
    "content-type": "application/grpc",
  });
  stream.end(Buffer.alloc(5));
  const [headers, flags] = await new Promise<[http2.IncomingHttpHeaders, number]>((resolve) =>
    stream.once("response", (h, f) => resolve([h, f])),
  );
  stream.resume();
  t.equal(headers["grpc-status"], "5");
  t.equal(headers["grpc-message"], "nope");
  t.ok((flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0);
});

t.test("gateway errors count against the upstream", async (t) => {
  const upstream = await rawUpstream(t, (stream) => {
    stream.resume();
    stream.respond({ ":status": 503, "content-type": "text/plain" });
    stream.end("down\n");
  });
  const proxy = createTripleProxy({
    upstreams: [upstream.url],
    picker: {
      healthSource: alwaysServing,
      outlier: { consecutiveFailures: 2, maxEjectedShare: 1 },
      panicThreshold: 0,
    },
  });
  t.teardown(() => proxy.close({ graceMs: 0 }));
  const metrics = new MetricRegistry();
  instrumentProxy(metrics, proxy);
  await proxy.picker.ready();
  const { port } = await proxy.listen(0);
  for (let i = 0; i < 2; i++) {
    const result = await rawCall(
      `http://127.0.0.1:${port}`,
      "/a",
      { "content-type": "text/plain" },
      Buffer.alloc(1),
    );
    t.equal(result.headers[":status"], 503);
  }
  t.ok(proxy.picker.snapshot()[0]!.ejected, "ejected after two 503s");
  // The same in /metrics: the picks, the ejection counted, the upstream ejected now.
  const text = renderMetrics(metrics, "text");
  const upstreamLabel = `upstream="${upstream.url}"`;
  t.match(text, `triple_health_proxy_picks_total{${upstreamLabel}} 2\n`);
  t.match(text, `triple_health_proxy_ejections_total{${upstreamLabel}} 1\n`);
  t.match(text, `triple_health_proxy_upstream_ejected{${upstreamLabel}} 1\n`);
  t.match(text, `triple_health_proxy_upstream_healthy{${upstreamLabel}} 0\n`);
});

t.test("megabytes both ways under backpressure; a caller that cancels cancels the upstream", async (t) => {
  const big = Buffer.alloc(3 * 1024 * 1024, 1);
  let cancelled = 0;
  const upstream = await rawUpstream(t, (stream, path) => {
    if (path.endsWith("Hang")) {
      stream.respond({ ":status": 200, "content-type": "application/grpc" });
      stream.write(Buffer.from([0, 0, 0, 0, 0]));
      stream.on("close", () => cancelled++);
      return;
    }
    stream.on("end", () => {
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(big);
    });
  });
  const { proxy, url } = await proxyFor(t, [upstream.url]);
  const result = await rawCall(url, "/x.Y/Big", { "content-type": "application/grpc" }, big);
  t.equal(result.body.length, big.length, "response body whole");
  t.equal(
    upstream.received.at(-1),
    big.length,
    "request body whole (not replayable: larger than the replay limit)",
  );
  t.equal(result.trailers?.["grpc-status"], "0");

  const session = http2.connect(url);
  const hang = session.request({
    ":method": "POST",
    ":path": "/x.Y/Hang",
    "content-type": "application/grpc",
  });
  hang.end(Buffer.alloc(5));
  await new Promise((resolve) => hang.once("response", resolve));
  t.equal(proxy.inFlight, 1);
  hang.close(http2.constants.NGHTTP2_CANCEL);
  const deadline = Date.now() + 5000;
  while ((cancelled === 0 || proxy.inFlight !== 0) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 10));
  t.equal(cancelled, 1, "the upstream stream was cancelled");
  t.equal(proxy.inFlight, 0);
  session.close();
});

t.test("triple over HTTP/1.1 to a raw upstream: gRPC trailers become HTTP/1.1 trailers", async (t) => {
  const upstream = await rawUpstream(t, (stream) => {
    stream.resume();
    stream.on("end", () => {
      stream.respond(
        { ":status": 200, "content-type": "application/grpc", "content-length": "5" },
        { waitForTrailers: true },
      );
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0", "x-t": "1" }));
      stream.end(Buffer.from([0, 0, 0, 0, 0]));
    });
  });
  const { url } = await proxyFor(t, [upstream.url]);
  const { request } = await import("node:http");
  const result = await new Promise<{
    trailers: NodeJS.Dict<string>;
    headers: NodeJS.Dict<string | string[]>;
  }>((resolve, reject) => {
    const req = request(
      `${url}/x.Y/Z`,
      { method: "POST", headers: { "content-type": "application/grpc", te: "trailers" } },
      (res) => {
        res.resume();
        res.on("end", () => resolve({ trailers: res.trailers, headers: res.headers }));
      },
    );
    req.on("error", reject);
    req.end(Buffer.alloc(5));
  });
  t.equal(result.trailers?.["grpc-status"], "0");
  t.equal(result.trailers?.["x-t"], "1");
  t.equal(result.headers["content-length"], undefined, "no length: chunked, so the trailers can follow");
  t.equal(result.headers.trailer, "grpc-status, grpc-message");
});

t.test("hop-by-hop header rules", async (t) => {
  t.same(
    upstreamRequestHeaders("POST", "/a/b", {
      host: "h:1",
      connection: ["keep-alive", "X-Drop"],
      "x-drop": "1",
      te: "gzip, trailers;q=1",
      "transfer-encoding": "chunked",
      "x-keep": ["1", "2"],
      skipped: undefined,
    }),
    { ":method": "POST", ":path": "/a/b", ":authority": "h:1", "x-keep": ["1", "2"], te: "trailers" },
  );
  t.same(upstreamRequestHeaders("POST", "/", { ":authority": "", te: "gzip" }), {
    ":method": "POST",
    ":path": "/",
  });
  t.same(
    forwardedResponseHeaders({
      ":status": "200",
      "content-type": "x",
      connection: "close",
      "keep-alive": "1",
    }),
    { "content-type": "x" },
  );
  t.ok(endsWithTrailers("application/grpc+proto"));
  t.ok(endsWithTrailers("Application/GRPC"));
  t.notOk(endsWithTrailers("application/grpc-web+proto"));
  t.notOk(endsWithTrailers("application/json"));
  t.notOk(endsWithTrailers(undefined));
  t.notOk(endsWithTrailers(["application/grpc"]));
});
