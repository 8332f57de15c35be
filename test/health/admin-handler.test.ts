import t from "tap";
import { request as undiciRequest } from "undici";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { createAdminHandler, isLoopback } from "../../src/health/admin-handler.ts";
import { HealthCheckRunner } from "../../src/health/checks.ts";
import { HealthRegistry } from "../../src/health/registry.ts";
import type { PlainHttpRequest, PlainHttpResponse } from "../../src/server/service-types.ts";
import { FakeClock } from "../../src/testing/fake-clock.ts";
import { servePlainHttp } from "../fixtures/plain-http-server.ts";

const { Serving, NotServing } = ServingStatus;

function req(
  method: string,
  path: string,
  init: Partial<PlainHttpRequest> & { json?: unknown } = {},
): PlainHttpRequest {
  const body =
    init.json === undefined ? (init.body ?? new Uint8Array()) : Buffer.from(JSON.stringify(init.json));
  return {
    method,
    path,
    query: new URLSearchParams(),
    remoteAddress: "127.0.0.1",
    ...init,
    headers: { ...(init.json === undefined ? {} : { "content-type": "application/json" }), ...init.headers },
    body,
  };
}

async function call(
  handler: ReturnType<typeof createAdminHandler>,
  request: PlainHttpRequest,
): Promise<PlainHttpResponse & { json: Record<string, unknown> }> {
  const response = await handler(request);
  if (response === undefined) throw new Error("not handled");
  return { ...response, json: JSON.parse(String(response.body)) as Record<string, unknown> };
}

t.test("GET /admin/health describes every service", async (t) => {
  const registry = new HealthRegistry({ now: () => Date.UTC(2026, 0, 2, 3, 4, 5) });
  registry.set("db", Serving);
  registry.markFailing("db", "ping", "ping: refused");
  registry.override("api", Serving, "pinned");
  const handler = createAdminHandler(registry);
  const response = await call(handler, req("GET", "/admin/health"));
  t.equal(response.status, 200);
  t.equal(response.headers?.["content-type"], "application/json");
  // Which process answers (the status page's identity line).
  const { identity, ...rest } = response.json as { identity: Record<string, unknown> };
  t.match(identity, {
    pid: process.pid,
    node: process.version,
    host: String,
    uptimeMs: Number,
    startedMs: Number,
  });
  t.notOk("version" in identity, "no version unless given");
  t.same(rest, {
    draining: false,
    shutdown: false,
    services: [
      {
        service: "",
        status: "SERVING",
        reason: "registered",
        since: "2026-01-02T03:04:05.000Z",
        sinceMs: Date.UTC(2026, 0, 2, 3, 4, 5),
        base: "SERVING",
        override: null,
        failing: [],
        source: "set",
      },
      {
        service: "db",
        status: "NOT_SERVING",
        reason: "ping: refused",
        since: "2026-01-02T03:04:05.000Z",
        sinceMs: Date.UTC(2026, 0, 2, 3, 4, 5),
        base: "SERVING",
        override: null,
        failing: [{ source: "ping", reason: "ping: refused" }],
        source: "check",
      },
      {
        service: "api",
        status: "SERVING",
        reason: "pinned",
        since: "2026-01-02T03:04:05.000Z",
        sinceMs: Date.UTC(2026, 0, 2, 3, 4, 5),
        base: null,
        override: "SERVING",
        failing: [],
        source: "override",
      },
    ],
    // The handler sees the changes made after it was created only.
    changes: [],
  });
});

t.test("GET /admin/health includes check states when given the runner", async (t) => {
  const registry = new HealthRegistry();
  const checks = new HealthCheckRunner(registry, { clock: new FakeClock() });
  checks.add({ name: "noop", services: ["x"], run: () => {} });
  const response = await call(createAdminHandler(registry, { checks }), req("GET", "/admin/health"));
  t.match(response.json.checks, [
    { name: "noop", services: ["x"], passing: false, everPassed: false, attempts: 0 },
  ]);
  await checks.close();
});

t.test("drain, resume and set", async (t) => {
  const registry = new HealthRegistry();
  registry.set("a", Serving);
  const handler = createAdminHandler(registry);
  let response = await call(handler, req("POST", "/admin/drain", { json: { reason: "maintenance" } }));
  t.same([response.status, response.json], [200, { draining: true }]);
  t.equal(registry.get("a"), NotServing);
  t.equal(registry.snapshot()[1]?.reason, "maintenance");
  response = await call(
    handler,
    req("POST", "/admin/resume", { headers: { "content-type": "application/json; charset=utf-8" } }),
  );
  t.same([response.status, response.json], [200, { draining: false }]);
  t.equal(registry.snapshot()[1]?.reason, "resumed by operator", "empty body: default reason");

  response = await call(
    handler,
    req("POST", "/admin/set", { json: { service: "a", status: "NOT_SERVING" } }),
  );
  t.same(
    [response.status, response.json],
    [200, { service: "a", override: "NOT_SERVING", status: "NOT_SERVING" }],
  );
  t.equal(registry.snapshot()[1]?.reason, "set by operator");
  response = await call(
    handler,
    req("POST", "/admin/set", { json: { service: "a", status: null, reason: "done" } }),
  );
  t.same(response.json, { service: "a", override: null, status: "SERVING" });
  response = await call(handler, req("POST", "/admin/set", { json: { service: "new", status: 2 } }));
  t.same(response.json, { service: "new", override: "NOT_SERVING", status: "NOT_SERVING" });
  response = await call(handler, req("POST", "/admin/set", { json: { service: "ghost", status: null } }));
  t.same(response.json, { service: "ghost", override: null, status: "SERVICE_UNKNOWN" });

  for (const bad of [
    { status: "SERVING" },
    { service: "a", status: "SERVICE_UNKNOWN" },
    { service: "a", status: "fine" },
    { service: "a" },
    { service: "a", status: true },
  ]) {
    response = await call(handler, req("POST", "/admin/set", { json: bad }));
    t.equal(response.status, 400, JSON.stringify(bad));
    t.type(response.json.error, "string");
  }

  registry.shutdown();
  response = await call(handler, req("POST", "/admin/resume", { json: {} }));
  t.same([response.status, response.json], [409, { error: "the server is shutting down" }]);
});

t.test("routing: own prefix only, 404 and 405", async (t) => {
  const handler = createAdminHandler(new HealthRegistry(), { prefix: "/ops/" });
  t.equal(await handler(req("GET", "/readyz")), undefined);
  t.equal(await handler(req("GET", "/opsx/health")), undefined);
  t.equal((await call(handler, req("GET", "/ops/health"))).status, 200);
  t.equal((await handler(req("GET", "/ops")))?.status, 200, "the status page");
  t.equal((await call(handler, req("GET", "/ops/nothing"))).status, 404);
  const wrong = await call(handler, req("GET", "/ops/drain"));
  t.equal(wrong.status, 405);
  t.equal(wrong.headers?.allow, "POST");
  t.equal((await call(handler, req("POST", "/ops/health", { json: {} }))).headers?.allow, "GET, HEAD");
});

t.test("POST bodies: JSON content type, size limit, valid object", async (t) => {
  const handler = createAdminHandler(new HealthRegistry(), { maxBodyBytes: 32 });
  const raw = (body: string, type = "application/json") =>
    call(
      handler,
      req("POST", "/admin/drain", { headers: { "content-type": type }, body: Buffer.from(body) }),
    );
  t.equal((await call(handler, req("POST", "/admin/drain"))).status, 415, "no content type");
  t.equal((await raw("{}", "text/plain")).status, 415, "a browser's simple request");
  t.equal((await raw(JSON.stringify({ reason: "x".repeat(40) }))).status, 413);
  t.equal((await raw("{not json")).status, 400);
  t.equal((await raw("[]")).status, 400);
  t.equal((await raw("null")).status, 400);
  t.equal((await raw('"x"')).status, 400);
  t.equal((await raw("{}")).status, 200);
});

t.test("loopback only unless allowRemote", async (t) => {
  const handler = createAdminHandler(new HealthRegistry());
  for (const address of ["10.0.0.1", "::ffff:192.168.1.1", "2001:db8::1", undefined]) {
    const response = await call(handler, req("GET", "/admin/health", { remoteAddress: address }));
    t.equal(response.status, 403, String(address));
  }
  for (const address of ["127.0.0.1", "127.5.6.7", "::1", "::ffff:127.0.0.1"])
    t.equal(
      (await call(handler, req("GET", "/admin/health", { remoteAddress: address }))).status,
      200,
      address,
    );
  const open = createAdminHandler(new HealthRegistry(), { allowRemote: true });
  t.equal((await call(open, req("GET", "/admin/health", { remoteAddress: "10.0.0.1" }))).status, 200);
  t.notOk(isLoopback("localhost"), "names are not addresses");
  t.ok(isLoopback("0:0:0:0:0:0:0:1"));
});

t.test("bearer token", async (t) => {
  const handler = createAdminHandler(new HealthRegistry(), { token: "s3cret" });
  for (const authorization of [undefined, "Bearer nope", "Basic s3cret", "Bearer s3cret extra", "Bearer "]) {
    const response = await call(handler, req("GET", "/admin/health", { headers: { authorization } }));
    t.equal(response.status, 401, String(authorization));
    t.equal(response.headers?.["www-authenticate"], "Bearer");
  }
  for (const authorization of ["Bearer s3cret", "bearer   s3cret "])
    t.equal((await call(handler, req("GET", "/admin/health", { headers: { authorization } }))).status, 200);
  // The loopback check comes first: a remote client learns nothing about the token.
  t.equal((await call(handler, req("GET", "/admin/health", { remoteAddress: "10.1.1.1" }))).status, 403);
});

t.test("over HTTP/1.1 with undici", async (t) => {
  const registry = new HealthRegistry();
  const server = await servePlainHttp([createAdminHandler(registry, { token: "tok" })]);
  t.teardown(() => server.close());
  const auth = { authorization: "Bearer tok", "content-type": "application/json" };
  let response = await undiciRequest(`${server.url}/admin/drain`, {
    method: "POST",
    headers: auth,
    body: "{}",
  });
  t.equal(response.statusCode, 200);
  t.same(await response.body.json(), { draining: true });
  response = await undiciRequest(`${server.url}/admin/health`, { headers: { authorization: "Bearer tok" } });
  t.match(await response.body.json(), { draining: true, services: [{ service: "", status: "NOT_SERVING" }] });
  response = await undiciRequest(`${server.url}/admin/health`);
  t.equal(response.statusCode, 401);
  await response.body.dump();
});

t.test("Host and Origin: loopback names, allowedHosts, '*', and requests without a Host", async (t) => {
  const registry = new HealthRegistry();
  const strict = createAdminHandler(registry);
  const listed = createAdminHandler(registry, { allowedHosts: ["Health.Internal"], allowRemote: true });
  const open = createAdminHandler(registry, { allowedHosts: ["*"] });
  const get = (headers: Record<string, string>) => req("GET", "/admin/health", { headers });
  const status = async (handler: typeof strict, headers: Record<string, string>) =>
    (await call(handler, get(headers))).status;
  t.equal(await status(strict, {}), 200, "no Host (HTTP/1.0): answered");
  t.equal(await status(strict, { origin: "http://localhost:3000" }), 200, "no Host, loopback Origin");
  t.equal(await status(strict, { origin: "http://evil.example" }), 403, "no Host, foreign Origin");
  for (const host of ["localhost", "api.localhost:80", "127.0.0.2:9", "[::1]:20000"])
    t.equal(await status(strict, { host }), 200, `Host ${host}`);
  for (const host of ["health.internal", "10.0.0.1", "a/b", "x@127.0.0.1", ""])
    t.equal(await status(strict, { host }), 403, `Host '${host}' refused`);
  t.equal(await status(listed, { host: "health.internal:20000" }), 200, "an allowed host (case-insensitive)");
  t.equal(await status(listed, { host: "other.internal" }), 403, "a host not listed");
  t.equal(await status(open, { host: "anything.example", origin: "http://else.example" }), 200, "'*': off");
});

t.test("set: long names refused, the admin's own names capped and taken back", async (t) => {
  const registry = new HealthRegistry();
  const handler = createAdminHandler(registry, { maxServices: 2, maxNameBytes: 8 });
  const set = (service: string, status: string | null) =>
    call(handler, req("POST", "/admin/set", { json: { service, status } }));
  t.equal((await set("é".repeat(5), "SERVING")).status, 400, "10 UTF-8 bytes > 8");
  t.equal((await set("a", "SERVING")).status, 200);
  t.equal((await set("b", "SERVING")).status, 200);
  t.equal((await set("c", "SERVING")).status, 429, "a third admin name: 429");
  t.equal((await set("a", "NOT_SERVING")).status, 200, "changing an admin name needs no room");
  registry.clear("b");
  t.equal((await set("c", "SERVING")).status, 200, "a name cleared elsewhere frees its place");
  t.same((await set("a", null)).json, { service: "a", override: null, status: "SERVICE_UNKNOWN" });
  t.notOk(registry.has("a"), "cleared override of an admin-only name unregisters it");
});

t.test(
  'GET /admin/health: a check that never passed shows its last error as the reason, "" too',
  async (t) => {
    const registry = new HealthRegistry();
    const clock = new FakeClock();
    const checks = new HealthCheckRunner(registry, { clock });
    checks.add({
      name: "db",
      services: ["db", ""],
      jitter: 0,
      run: () => Promise.reject(new Error("connect ECONNREFUSED 127.0.0.1:5432")),
    });
    const handler = createAdminHandler(registry, { checks });
    const before = await call(handler, req("GET", "/admin/health"));
    t.match(before.json.services, [{ service: "", status: "NOT_SERVING", reason: "db: not passed yet" }]);
    await clock.advance(0);
    const after = await call(handler, req("GET", "/admin/health"));
    t.match(after.json.services, [
      { service: "", status: "NOT_SERVING", reason: "db: connect ECONNREFUSED 127.0.0.1:5432" },
      { service: "db", status: "NOT_SERVING", reason: "db: connect ECONNREFUSED 127.0.0.1:5432" },
    ]);
    await checks.close();
  },
);

t.test("GET /admin/health's identity carries the version given", async (t) => {
  const response = await call(
    createAdminHandler(new HealthRegistry(), { version: "1.2.3" }),
    req("GET", "/admin/health"),
  );
  t.match((response.json as { identity: object }).identity, { version: "1.2.3" });
});

t.test(
  "HEAD on the page and the GET endpoints: GET's status and headers, no body; not on the event stream",
  async (t) => {
    const handler = createAdminHandler(new HealthRegistry());
    for (const path of ["/admin/", "/admin", "/admin/status.js", "/admin/health"]) {
      const get = await handler(req("GET", path));
      const head = await handler(req("HEAD", path));
      t.equal(head?.status, 200, `HEAD ${path}`);
      t.equal(head?.body, undefined, `HEAD ${path}: no body`);
      t.equal(head?.headers?.["content-type"], get?.headers?.["content-type"], `HEAD ${path}: GET's type`);
      t.equal(head?.headers?.["content-length"], String(Buffer.byteLength(get?.body ?? "")), "GET's length");
    }
    const events = await call(handler, req("HEAD", "/admin/events"));
    t.equal(events.status, 405, "HEAD /admin/events would hold a stream slot: 405");
    t.equal(events.headers?.allow, "GET");
    t.equal((await handler(req("HEAD", "/admin/drain")))?.status, 405, "HEAD on a POST endpoint");
  },
);
