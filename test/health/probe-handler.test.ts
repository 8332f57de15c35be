import t from "tap";
import { request } from "undici";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { createProbeHandler } from "../../src/health/probe-handler.ts";
import { HealthRegistry } from "../../src/health/registry.ts";
import type { PlainHttpRequest } from "../../src/server/service-types.ts";
import { servePlainHttp } from "../fixtures/plain-http-server.ts";

function req(method: string, target: string): PlainHttpRequest {
  const url = new URL(target, "http://x");
  return {
    method,
    path: url.pathname,
    query: url.searchParams,
    headers: {},
    remoteAddress: "10.0.0.1",
    body: new Uint8Array(),
  };
}

t.test("/livez and /readyz follow the overall status", async (t) => {
  const registry = new HealthRegistry();
  const handler = createProbeHandler(registry);
  t.same(await handler(req("GET", "/livez")), {
    status: 200,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
    body: '{"status":"ok"}',
  });
  t.match(await handler(req("GET", "/readyz")), { status: 200, body: '{"status":"SERVING"}' });
  registry.drain();
  t.match(await handler(req("GET", "/readyz")), { status: 503, body: '{"status":"NOT_SERVING"}' });
  t.match(await handler(req("GET", "/livez")), { status: 200 }, "drained is still alive");
  registry.resume();
  registry.set("", ServingStatus.Unknown);
  t.match(await handler(req("GET", "/readyz")), { status: 503, body: '{"status":"UNKNOWN"}' });
});

t.test("/readyz?service= asks about one service", async (t) => {
  const registry = new HealthRegistry();
  registry.set("db", ServingStatus.NotServing);
  const handler = createProbeHandler(registry);
  t.match(await handler(req("GET", "/readyz?service=db")), { status: 503 });
  t.match(await handler(req("GET", "/readyz?service=nope")), {
    status: 404,
    body: '{"status":"SERVICE_UNKNOWN"}',
  });
  registry.set("db", ServingStatus.Serving);
  t.match(await handler(req("GET", "/readyz?service=db")), { status: 200 });
});

t.test("HEAD, other methods, other paths, custom paths", async (t) => {
  const registry = new HealthRegistry();
  const handler = createProbeHandler(registry, { livePath: "/healthz", readyPath: "/ready" });
  t.same(await handler(req("HEAD", "/ready")), {
    status: 200,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });
  t.match(await handler(req("POST", "/healthz")), { status: 405, headers: { allow: "GET, HEAD" } });
  t.equal(await handler(req("GET", "/livez")), undefined);
  t.equal(await handler(req("GET", "/admin/health")), undefined);
  t.match(await handler(req("GET", "/healthz")), { status: 200 });
});

t.test("over HTTP/1.1", async (t) => {
  const registry = new HealthRegistry();
  const server = await servePlainHttp([createProbeHandler(registry)]);
  t.teardown(() => server.close());
  let response = await request(`${server.url}/readyz`);
  t.equal(response.statusCode, 200);
  t.same(await response.body.json(), { status: "SERVING" });
  registry.shutdown();
  response = await request(`${server.url}/readyz`);
  t.equal(response.statusCode, 503);
  t.same(await response.body.json(), { status: "NOT_SERVING" });
  response = await request(`${server.url}/other`);
  t.equal(response.statusCode, 404);
  await response.body.dump();
});
