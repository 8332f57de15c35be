// Hardening II: the admin surface as an attacker meets it. Run against `serve --sample --admin` in a child
// process, since what is tested is that the process survives.
import t from "tap";
import {
  createAdminHandler,
  defaultMaxAdminNameBytes,
  defaultMaxAdminServices,
} from "../../src/health/admin-handler.ts";
import { HealthRegistry } from "../../src/health/registry.ts";
import { grpcHeaders, h2once } from "../fixtures/h2-request.ts";
import { startCli } from "../fixtures/run-cli.ts";
import { startServer } from "../fixtures/start-server.ts";
import { envelope, grpcCheck, h1request, listPath } from "./fixtures/attack.ts";

// Names every plain object inherits: an admin route table that is a plain object finds these.
const inheritedNames = ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf"];

t.test("item 1: GET /admin/<inherited property name> is a 404 over both HTTP versions", async (t) => {
  const child = startCli(t, ["serve", "--sample", "--admin"], { env: { ...process.env, PORT: "0" } });
  const port = Number((await child.line(/on http:\/\/127\.0\.0\.1:(\d+)/))[1]);
  for (const name of inheritedNames) {
    for (const method of ["GET", "POST"]) {
      const h1 = await h1request(port, { method, path: `/admin/${name}` });
      t.equal(h1.status, 404, `HTTP/1.1 ${method} /admin/${name}: 404`);
      t.same(h1.json, { error: "no such admin endpoint" });
      const h2 = await h2once(port, { ":method": method, ":path": `/admin/${name}` });
      t.equal(h2.status, 404, `HTTP/2 ${method} /admin/${name}: 404`);
    }
  }
  t.equal(child.child.exitCode, null, "the server is still running");
  t.equal(await grpcCheck(port), 1, "and answers a Check: SERVING");
  const health = await h1request(port, { method: "GET", path: "/admin/health" });
  t.equal(health.status, 200, "the real routes still answer");
  t.equal(await child.stop("SIGTERM"), 0, "exits 0 on SIGTERM");
  t.notMatch(child.stderr, /Unhandled|TypeError/, "nothing escaped");
});

t.test(
  "item 5: DNS rebinding — a foreign Host or a cross-origin Origin is refused over both versions",
  async (t) => {
    const { port } = await startServer(t, { plainHttpHandlers: [createAdminHandler(new HealthRegistry())] });
    const json = { "content-type": "application/json" };
    const drain = Buffer.from("{}");
    const cases: Array<{ what: string; headers: Record<string, string>; status: number }> = [
      { what: "rebound Host", headers: { host: "rebind.attacker.example" }, status: 403 },
      {
        what: "rebound Host with its own Origin",
        headers: { host: "rebind.attacker.example", origin: "http://rebind.attacker.example" },
        status: 403,
      },
      {
        what: "loopback Host, foreign Origin",
        headers: { host: `127.0.0.1:${port}`, origin: "http://evil.example" },
        status: 403,
      },
      {
        what: "loopback Host, Origin null",
        headers: { host: `127.0.0.1:${port}`, origin: "null" },
        status: 403,
      },
      { what: "localhost", headers: { host: `localhost:${port}` }, status: 200 },
      {
        what: "same-origin page",
        headers: { host: `127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}` },
        status: 200,
      },
    ];
    for (const c of cases) {
      const get = await h1request(port, { method: "GET", path: "/admin/health", headers: c.headers });
      t.equal(get.status, c.status, `HTTP/1.1 GET, ${c.what}: ${c.status}`);
      const h2headers: Record<string, string> = { ":method": "GET", ":path": "/admin/health" };
      if (c.headers.host !== undefined) h2headers[":authority"] = c.headers.host;
      if (c.headers.origin !== undefined) h2headers["origin"] = c.headers.origin;
      const h2 = await h2once(port, h2headers);
      t.equal(h2.status, c.status, `HTTP/2 GET, ${c.what}: ${c.status}`);
      if (c.status === 403) {
        const post = await h1request(port, {
          method: "POST",
          path: "/admin/drain",
          headers: { ...json, ...c.headers },
          body: drain,
        });
        t.equal(post.status, 403, `HTTP/1.1 POST /admin/drain, ${c.what}: 403`);
      }
    }
    t.equal(await grpcCheck(port), 1, "never drained: still SERVING");
  },
);

t.test("item 7: names set through admin are capped, bounded in size, and removable", async (t) => {
  const registry = new HealthRegistry();
  const { port } = await startServer(t, {
    health: registry,
    plainHttpHandlers: [createAdminHandler(registry)],
  });
  const set = (service: string, status: string | null) =>
    h1request(port, {
      method: "POST",
      path: "/admin/set",
      headers: { "content-type": "application/json" },
      body: Buffer.from(JSON.stringify({ service, status })),
    });
  const before = registry.size;
  for (let i = 0; i < defaultMaxAdminServices; i++) {
    t.equal((await set(`junk.${i}`, "NOT_SERVING")).status, 200);
  }
  const over = await set("junk.one-too-many", "NOT_SERVING");
  t.equal(over.status, 429, `service ${defaultMaxAdminServices + 1}: 429`);
  t.match(over.json, { error: /clear one/ });
  t.notOk(registry.has("junk.one-too-many"), "not registered");
  const long = await set("x".repeat(defaultMaxAdminNameBytes + 1), "SERVING");
  t.equal(long.status, 400, "a name over the byte limit: 400");
  t.equal(registry.size, before + defaultMaxAdminServices, "only the capped names were added");
  const list = await h2once(port, grpcHeaders(listPath), { body: [envelope(0, Buffer.alloc(0))] });
  t.equal(list.grpcStatus, 0, "List still answers for everyone");
  for (let i = 0; i < defaultMaxAdminServices; i++) {
    const cleared = await set(`junk.${i}`, null);
    t.equal(cleared.json?.["status"], "SERVICE_UNKNOWN", `junk.${i} cleared`);
  }
  t.equal(registry.size, before, "clearing removed every name only the admin registered");
  t.equal((await set("junk.again", "SERVING")).status, 200, "room again after clearing");
  // A name something else registered keeps its registration when its override is cleared.
  registry.set("real.Service", 1);
  await set("real.Service", "NOT_SERVING");
  await set("real.Service", null);
  t.equal(registry.get("real.Service"), 1, "a registered service is only un-overridden");
  t.equal(await grpcCheck(port), 1, "a Check still answers SERVING");
});
