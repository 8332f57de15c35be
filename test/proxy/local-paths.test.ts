// Hardening II, item 6: the proxy never forwards the upstreams' admin surface or probes. An upstream's admin
// trusts loopback, and every call the proxy forwards comes from loopback: a remote client could drain it.
import t from "tap";
import { createTripleProxy } from "../../src/host/triple-proxy.ts";
import { defaultLocalPaths, localPathMatcher, routingSegments } from "../../src/proxy/local-paths.ts";
import { h2once } from "../fixtures/h2-request.ts";
import { stderrLine } from "../fixtures/node-process.ts";
import { startCli } from "../fixtures/run-cli.ts";
import { grpcCheck, h1request } from "../hardening/fixtures/attack.ts";

// Every spelling of an admin or probe path some server on the way might route there.
const tricks = [
  "/admin/drain",
  "/admin/drain?x=1",
  "/admin",
  "//admin/drain",
  "/./admin/drain",
  "/admin/../admin/drain",
  "/x/../admin/drain",
  "/ADMIN/drain",
  "/Admin/Drain",
  "/%61dmin/drain",
  "/%2561dmin/drain",
  "/admin%2Fdrain",
  "/admin;jsessionid=1/drain",
  "/admin%00/drain",
  "/admin/%2e%2e/admin/drain",
  "/livez",
  "/readyz?service=greet.GreetService",
  "/LIVEZ/",
];

t.test("routingSegments and the matcher", async (t) => {
  t.same(routingSegments("http://host:1/a/./b/../c?q#f"), ["a", "c"]);
  t.same(routingSegments("/../../a"), ["a"]);
  t.same(routingSegments(""), []);
  const isLocal = localPathMatcher(defaultLocalPaths);
  for (const target of [...tricks, "http://127.0.0.1:1/admin/drain", "HTTPS://x/%41DMIN", "\\admin\\drain"])
    t.ok(isLocal(target), `${target} is local`);
  for (const target of ["/", "/grpc.health.v1.Health/Check", "/administrator", "/adminx/set", "/livezz", "*"])
    t.notOk(isLocal(target), `${target} is forwarded`);
  t.notOk(localPathMatcher(["/", ""])("/admin"), "an empty path refuses nothing");
});

t.test(
  "through a real proxy, POST /admin/drain over HTTP/1.1 and HTTP/2 never drains the upstream",
  async (t) => {
    const upstream = startCli(t, ["serve", "--sample", "--admin"], { env: { ...process.env, PORT: "0" } });
    const upstreamPort = Number((await upstream.line(/on http:\/\/127\.0\.0\.1:(\d+)/))[1]);
    const proxy = createTripleProxy({
      upstreams: [`127.0.0.1:${upstreamPort}`],
      localPaths: ["/ops"],
    });
    t.teardown(() => proxy.close({ graceMs: 0 }));
    await proxy.picker.ready();
    const { port } = await proxy.listen(0, "127.0.0.1");
    t.equal(await grpcCheck(port), 1, "a Check through the proxy: SERVING");

    const json = { "content-type": "application/json" };
    const body = Buffer.from('{"reason":"via proxy"}');
    const absolute = `http://127.0.0.1:${upstreamPort}/admin/drain`;
    for (const path of [...tricks, absolute, "/ops/x"]) {
      const h1 = await h1request(port, { method: "POST", path, headers: json, body });
      t.equal(h1.status, 404, `HTTP/1.1 POST ${path}: 404`);
      t.match(h1.body.toString(), /does not forward admin or probe paths/);
      if (path === absolute) continue; // HTTP/2 has no absolute-form: :scheme and :authority are apart
      const h2 = await h2once(port, { ":method": "POST", ":path": path, ...json }, { body });
      t.equal(h2.status, 404, `HTTP/2 POST ${path}: 404`);
      t.match(h2.body.toString(), /does not forward admin or probe paths/);
    }
    // Targets node's parsers refuse before the proxy sees them: 400 on HTTP/1.1, a reset stream on HTTP/2.
    for (const path of ["\\admin\\drain", absolute]) {
      const h2 = await h2once(port, { ":method": "POST", ":path": path, ...json }, { body });
      t.same([h2.status, h2.rstCode], [0, 1], `HTTP/2 :path ${path}: PROTOCOL_ERROR, not forwarded`);
    }
    const backslash = await h1request(port, { method: "POST", path: "\\admin\\drain", headers: json, body });
    t.equal(backslash.status, 400, "HTTP/1.1 POST \\admin\\drain: 400 from node's parser");
    // One keep-alive HTTP/1.1 connection: the refused request's body is read, the next request is answered.
    const get = await h1request(port, { method: "GET", path: "/livez" });
    t.equal(get.status, 404, "GET /livez through the proxy: 404 (the proxy's own, not the upstream's 200)");

    const direct = await h1request(upstreamPort, { method: "GET", path: "/admin/health" });
    t.equal(direct.json?.draining, false, "the upstream was never drained");
    t.equal(await grpcCheck(port), 1, "a Check through the proxy is still SERVING");
    t.equal(await grpcCheck(upstreamPort), 1, "and so is one to the upstream");
    // Near misses are still forwarded: the upstream answers them (its own 404 JSON / UNIMPLEMENTED).
    const near = await h1request(port, { method: "POST", path: "/administrator", headers: json, body });
    t.notMatch(near.body.toString(), /does not forward/, "/administrator is forwarded");

    // The same request sent straight to the upstream does drain it: the payload was a real one.
    const drained = await h1request(upstreamPort, {
      method: "POST",
      path: "/admin/drain",
      headers: json,
      body,
    });
    t.equal(drained.status, 200);
    t.equal(drained.json?.draining, true);
    t.equal(await upstream.stop("SIGTERM"), 0);
  },
);

t.test(
  "`triple-health proxy` as users run it: /admin/drain through it is a 404 over both versions",
  async (t) => {
    const upstream = startCli(t, ["serve", "--admin"], { env: { ...process.env, PORT: "0" } });
    const upstreamPort = Number((await upstream.line(/on http:\/\/127\.0\.0\.1:(\d+)/))[1]);
    const proxy = startCli(t, [
      "proxy",
      "--listen",
      "127.0.0.1:0",
      "--upstream",
      `127.0.0.1:${upstreamPort}`,
    ]);
    const port = Number(
      (await stderrLine(proxy, /^triple-health proxy on http:\/\/127\.0\.0\.1:(\d+) /m))[1],
    );
    const json = { "content-type": "application/json" };
    const h1 = await h1request(port, {
      method: "POST",
      path: "/admin/drain",
      headers: json,
      body: Buffer.from("{}"),
    });
    t.equal(h1.status, 404, "HTTP/1.1: 404");
    const h2 = await h2once(
      port,
      { ":method": "POST", ":path": "/admin/drain", ...json },
      { body: Buffer.from("{}") },
    );
    t.equal(h2.status, 404, "HTTP/2: 404");
    const direct = await h1request(upstreamPort, { method: "GET", path: "/admin/health" });
    t.equal(direct.json?.draining, false, "the upstream is not draining");
    t.equal(await proxy.stop("SIGTERM"), 0);
    t.equal(await upstream.stop("SIGTERM"), 0);
  },
);
