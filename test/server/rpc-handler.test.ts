import http from "node:http";
import http2 from "node:http2";
import t from "tap";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { createHealthService } from "../../src/health/health-service.ts";
import { HealthRegistry } from "../../src/health/registry.ts";
import { createRpcHandler } from "../../src/server/rpc-handler.ts";
import { ConfigError } from "../../src/wire/config-error.ts";
import { grpcHeaders, h2request } from "../fixtures/h2-request.ts";
import { listenLocal, startServer } from "../fixtures/start-server.ts";
import { checkRequestBytes, envelope, h1request } from "./fixtures/helpers.ts";

const registry = new HealthRegistry();
registry.set("app", ServingStatus.Serving);
const handler = createRpcHandler().addService("grpc.health.v1.Health", createHealthService(registry));

t.test("embedded in the application's node:http2 server (core stream API)", async (t) => {
  const server = http2.createServer();
  server.on("stream", (stream, headers) => {
    if (handler.handleStream(stream, headers)) return;
    stream.respond({ ":status": 200, "content-type": "text/plain" });
    stream.end("the app's own route");
  });
  const { url } = await listenLocal(server, t);
  const rpc = await h2request(
    url,
    grpcHeaders("/grpc.health.v1.Health/Check"),
    envelope(checkRequestBytes("app")),
  );
  t.equal(rpc.body.toString("hex"), "00000000020801");
  t.equal(rpc.trailers?.["grpc-status"], "0");
  const own = await h2request(url, { ":path": "/somewhere" }, Buffer.from("x"));
  t.equal(own.body.toString(), "the app's own route", "unknown paths are left to the application");
  const wrongType = await h2request(url, {
    ":path": "/grpc.health.v1.Health/Check",
    "content-type": "text/plain",
  });
  t.equal(wrongType.status, 415, "a known path with a bad content-type is still ours");
});

t.test("embedded in the application's node:http server", async (t) => {
  const server = http.createServer((req, res) => {
    if (handler.handleRequest(req, res)) return;
    res.writeHead(404).end("not mine");
  });
  const { url } = await listenLocal(server, t);
  const rpc = await h1request(`${url}/grpc.health.v1.Health/Check`, {
    headers: { "content-type": "application/json" },
    body: '{"service":"app"}',
  });
  t.equal(rpc.body.toString(), '{"status":"SERVING"}');
  const own = await h1request(`${url}/other`, { method: "GET" });
  t.equal(own.status, 404);
  t.equal(own.body.toString(), "not mine");
});

t.test("embedded through the HTTP/2 compatibility API (request events)", async (t) => {
  const server = http2.createServer((req, res) => {
    if (handler.handleRequest(req, res)) return;
    res.writeHead(404).end("not mine");
  });
  const { url } = await listenLocal(server, t);
  const rpc = await h2request(
    url,
    grpcHeaders("/grpc.health.v1.Health/Check"),
    envelope(checkRequestBytes("app")),
  );
  t.equal(rpc.body.toString("hex"), "00000000020801");
  t.equal(rpc.trailers?.["grpc-status"], "0", "trailers sent once, by us");
  const error = await h2request(
    url,
    grpcHeaders("/grpc.health.v1.Health/Check"),
    envelope(checkRequestBytes("x")),
  );
  t.equal(error.headers["grpc-status"], "5");
});

t.test("handler options and service validation", async (t) => {
  t.throws(() => createRpcHandler({ maxMessageBytes: -1 }), ConfigError);
  const h = createRpcHandler();
  t.throws(() => h.addService("bad name", {}), ConfigError);
  t.throws(() => h.addService("ok.Name", { "bad-method": { kind: "unary" } as never }), ConfigError);
  t.throws(() => h.addService("ok.Name", { M: { kind: "bidi" } as never }), /unsupported kind/);
  h.addService("ok.Name", {});
  t.throws(() => h.addService("ok.Name", {}), /already added/);
  t.same(h.services, ["ok.Name"]);
  t.equal(h.activeStreams, 0);
});

t.test("plain HTTP handlers for paths no service claims", async (t) => {
  const { url } = await startServer(
    t,
    {
      plainHttpHandlers: [
        (request) => {
          if (request.path === "/boom") throw new Error("handler failed");
          if (request.path === "/bad-header") return { status: 200, headers: { allow: undefined as never } };
          if (request.path !== "/hello") return undefined;
          return {
            status: 200,
            body: `hi ${request.method} ${request.query.get("who")} ${Buffer.from(request.body).toString()} ${request.headers["x-a"]}`,
          };
        },
        async (request) =>
          request.path === "/bytes"
            ? { status: 201, headers: { "X-Kind": "bytes" }, body: new Uint8Array([1, 2, 3]) }
            : undefined,
      ],
      maxMessageBytes: 64,
    },
    { graceMs: 50 },
  );
  const hello = await h1request(`${url}/hello?who=me`, { headers: { "x-a": "b" }, body: "body" });
  t.equal(hello.status, 200);
  t.equal(hello.body.toString(), "hi POST me body b");
  t.equal(hello.headers["content-type"], "text/plain; charset=utf-8");
  const h2 = await h2request(url, { ":method": "GET", ":path": "/bytes" });
  t.equal(h2.status, 201);
  t.equal(h2.headers["x-kind"], "bytes");
  t.same([...h2.body], [1, 2, 3]);
  const boom = await h1request(`${url}/boom`, { method: "GET" });
  t.equal(boom.status, 500);
  // An answer node:http cannot write (a header without a value) is a 500, not an unhandled rejection
  // (node:http2 drops such a header).
  const unwritable = await h1request(`${url}/bad-header`, { method: "GET" });
  t.equal(unwritable.status, 500, "an unwritable answer: 500");
  const large = await h1request(`${url}/hello`, { body: "x".repeat(200) });
  t.equal(large.status, 413);
  const unclaimedGet = await h1request(`${url}/nothing`, { method: "GET" });
  t.equal(unclaimedGet.status, 405);
  const unclaimedPost = await h1request(`${url}/nothing`, {
    headers: { "content-type": "text/plain" },
    body: "x",
  });
  t.equal(unclaimedPost.status, 415);
  const unclaimedRpc = await h2request(url, grpcHeaders("/no.Service/M"), envelope(checkRequestBytes("")));
  t.equal(unclaimedRpc.headers["grpc-status"], "12");
  const rpc = await h2request(
    url,
    grpcHeaders("/grpc.health.v1.Health/Check"),
    envelope(checkRequestBytes("")),
  );
  t.equal(rpc.trailers?.["grpc-status"], "0", "RPC paths still go to the services");
});

t.test(
  "CORS headers are added to every head of an allowed origin's exchange, over the handler's",
  async (t) => {
    const { url } = await startServer(t, {
      cors: true,
      plainHttpHandlers: [() => ({ status: 200, headers: { Vary: "Accept", "X-Own": "1" }, body: "abc" })],
    });
    const origin = "https://app.example";
    const h1 = await h1request(`${url}/page`, { method: "GET", headers: { origin } });
    t.equal(h1.status, 200);
    t.equal(h1.body.toString(), "abc");
    t.equal(h1.headers["content-length"], "3");
    t.equal(h1.headers.vary, "Origin");
    t.equal(h1.headers["access-control-allow-origin"], origin);
    t.equal(h1.headers["x-own"], "1");
    const plain = await h1request(`${url}/page`, { method: "GET" });
    t.equal(plain.headers.vary, "Accept", "no Origin: no CORS headers");
    t.equal(plain.headers["access-control-allow-origin"], undefined);
    const h2 = await h2request(url, { ":method": "GET", ":path": "/page", origin });
    t.equal(h2.status, 200);
    t.equal(h2.body.toString(), "abc");
    t.equal(h2.headers.vary, "Origin");
    t.equal(h2.headers["access-control-allow-origin"], origin);
    t.equal(h2.headers["x-own"], "1");
  },
);

t.test("embedded: Dubbo exports by group/version, and the closing option", async (t) => {
  const health = new HealthRegistry();
  const keyed = createRpcHandler({ closing: () => health.draining })
    .addService("grpc.health.v1.Health", createHealthService(health))
    .addService("keyed.Service", createHealthService(health), { group: "g1", version: "1.0.0" });
  t.same(
    keyed.exports.map(({ service, group, version }) => [service, group, version]),
    [
      ["grpc.health.v1.Health", "", ""],
      ["keyed.Service", "g1", "1.0.0"],
    ],
  );
  const server = http2.createServer();
  server.on("stream", (stream, headers) => {
    if (keyed.handleStream(stream, headers)) return;
    stream.respond({ ":status": 404 });
    stream.end("not mine");
  });
  const { url } = await listenLocal(server, t);
  const body = envelope(checkRequestBytes(""));
  const picked = await h2request(
    url,
    grpcHeaders("/keyed.Service/Check", { "tri-service-group": "g1", "tri-service-version": "1.0.0" }),
    body,
  );
  t.equal(picked.body.toString("hex"), "00000000020801", "the g1/1.0.0 export answers");
  t.equal(picked.trailers?.["closing"], undefined, "no closing trailer while serving");
  const missing = await h2request(url, grpcHeaders("/keyed.Service/Check"), body);
  t.equal(missing.status, 200, "the path is the handler's: answered, not left to the application");
  t.equal(missing.grpcStatus, 12, "UNIMPLEMENTED without the group and version");
  t.match(missing.grpcMessage, /service group "" and service version ""/);
  const lower = await h2request(url, grpcHeaders("/grpc.health.v1.Health/check"), body);
  t.equal(lower.body.toString("hex"), "00000000020801", "lower-case first letter");
  t.equal((await h2request(url, { ":path": "/elsewhere" })).body.toString(), "not mine");
  health.drain();
  const draining = await h2request(url, grpcHeaders("/grpc.health.v1.Health/Check"), body);
  t.equal(draining.body.toString("hex"), "00000000020802");
  t.equal(draining.trailers?.["closing"], "true", "closing: true while the option says so");
  const plain = createRpcHandler().addService("grpc.health.v1.Health", createHealthService(health));
  t.equal(plain.closing, false, "no option: never closing");
});
