// The admin status page's server side (issue 17 item 3): the page and its assets, GET /admin/events
// (server-sent events) and the last changes, over HTTP/1.1 and HTTP/2, with and without a token. The page
// itself runs in Chromium in test/interop/chromium.test.ts.
import { Script } from "node:vm";
import t, { type Test } from "tap";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { AdminEventStreams } from "../../src/health/admin-events.ts";
import { createAdminHandler } from "../../src/health/admin-handler.ts";
import { HealthRegistry } from "../../src/health/registry.ts";
import { statusPageHtml, statusPageScript } from "../../src/health/status-page.ts";
import type { PlainHttpRequest, PlainHttpStream } from "../../src/server/service-types.ts";
import { openEventStream } from "../fixtures/event-stream.ts";
import { h1request } from "../fixtures/h1-request.ts";
import { startServer } from "../fixtures/start-server.ts";
import { grpcCheck, waitFor } from "../hardening/fixtures/attack.ts";

const { Serving, NotServing } = ServingStatus;
const versions = ["1.1", "2"] as const;

function req(method: string, path: string, headers: Record<string, string> = {}): PlainHttpRequest {
  return {
    method,
    path,
    query: new URLSearchParams(),
    remoteAddress: "127.0.0.1",
    headers,
    body: new Uint8Array(),
  };
}

interface HealthState {
  draining: boolean;
  shutdown: boolean;
  services: Array<{ service: string; status: string; source: string }>;
  changes: Array<{
    service: string;
    from: string | null;
    to: string | null;
    source: string;
    by: string;
    reason: string;
  }>;
}

async function startAdmin(t: Test, options: Parameters<typeof createAdminHandler>[1] = {}) {
  const health = new HealthRegistry();
  const started = await startServer(t, { health, plainHttpHandlers: [createAdminHandler(health, options)] });
  return { ...started, health };
}

t.test("the page and its assets: served without the token, with a strict CSP, no framing", async (t) => {
  const handler = createAdminHandler(new HealthRegistry(), { token: "s3cret" });
  for (const [path, type] of [
    ["/admin/", "text/html; charset=utf-8"],
    ["/admin", "text/html; charset=utf-8"],
    ["/admin/status.js", "text/javascript; charset=utf-8"],
    ["/admin/status.css", "text/css; charset=utf-8"],
  ] as const) {
    const response = await handler(req("GET", path));
    t.equal(response?.status, 200, path);
    const headers = response?.headers ?? {};
    t.equal(headers["content-type"], type, `${path}: ${type}`);
    t.match(headers["content-security-policy"], /^default-src 'none'; script-src 'self'; /);
    t.match(headers["content-security-policy"], /frame-ancestors 'none'/);
    t.equal(headers["x-frame-options"], "DENY");
    t.equal(headers["x-content-type-options"], "nosniff");
    t.equal(headers["cache-control"], "no-store");
  }
  const html = String((await handler(req("GET", "/admin/")))?.body);
  t.match(html, '<script src="/admin/status.js" defer></script>', "the script is a file of its own");
  t.notMatch(html, /<script>|<style|\son[a-z]+=/i, "no inline script, style or handler: the CSP allows none");
  t.equal((await handler(req("POST", "/admin/")))?.status, 405, "the page is GET only");
  for (const path of ["/admin/health", "/admin/events"])
    t.equal((await handler(req("GET", path)))?.status, 401, `${path} needs the token`);
  const withToken = await handler(req("GET", "/admin/events", { authorization: "Bearer s3cret" }));
  t.equal(withToken?.status, 200);
  t.type(withToken?.stream, "function", "and streams with it");
});

t.test("the page names its prefix, escaped; the script is valid JavaScript", async (t) => {
  t.match(statusPageHtml('/o"ps<'), 'data-prefix="/o&#34;ps&#60;"');
  t.doesNotThrow(() => new Script(statusPageScript, { filename: "status.js" }));
  t.notMatch(statusPageScript, /innerHTML|insertAdjacentHTML|document\.write/, "text goes in as text");
  t.notMatch(statusPageScript, /[?&]token=|document\.cookie/, "the token goes in no URL query or cookie");
  const handler = createAdminHandler(new HealthRegistry(), { prefix: "/ops" });
  t.match(String((await handler(req("GET", "/ops/")))?.body), 'data-prefix="/ops"');
});

t.test("GET /admin/health: each service's source and the last 50 changes, oldest first", async (t) => {
  let now = 1_000;
  const registry = new HealthRegistry({ now: () => now });
  const handler = createAdminHandler(registry);
  const state = async () =>
    JSON.parse(String((await handler(req("GET", "/admin/health")))?.body)) as HealthState;
  registry.set("a", Serving, "up");
  registry.markFailing("a", "ping", "ping: refused");
  registry.override("b", NotServing, "pinned");
  registry.set("c", Serving);
  let body = await state();
  t.same(
    body.services.map((s) => [s.service, s.source]),
    [
      ["", "set"],
      ["a", "check"],
      ["b", "override"],
      ["c", "set"],
    ],
  );
  registry.clear("c", "gone");
  registry.drain("maintenance");
  body = await state();
  t.ok(body.services.every((s) => s.source === "drain"));
  t.same(
    body.changes.map((c) => [c.service, c.from, c.to, c.source, c.by, c.reason]),
    [
      ["a", null, "SERVING", "set", "set", "up"],
      ["a", "SERVING", "NOT_SERVING", "check", "ping", "ping: refused"],
      ["b", null, "NOT_SERVING", "override", "override", "pinned"],
      ["c", null, "SERVING", "set", "set", "set"],
      ["c", "SERVING", null, "clear", "clear", "gone"],
      ["", "SERVING", "NOT_SERVING", "drain", "drain", "maintenance"],
    ],
  );
  registry.resume(); // one change: "" back to SERVING (a fails, b is pinned NOT_SERVING)
  for (let i = 0; i < 60; i++) {
    now += 1;
    registry.override("b", i % 2 === 0 ? Serving : NotServing, `flip ${i}`);
  }
  registry.shutdown("closing"); // one change: "" (b is NOT_SERVING after the last flip)
  body = await state();
  t.equal(body.changes.length, 50, "a ring of 50 out of 68 changes");
  t.match(body.changes.at(-1), { service: "", source: "shutdown", reason: "closing" }, "newest last");
  t.same(body.changes[0], {
    time: new Date(1_012).toISOString(),
    timeMs: 1_012,
    service: "b",
    from: "SERVING",
    to: "NOT_SERVING",
    reason: "flip 11",
    source: "override",
    by: "override",
  });
});

for (const version of versions) {
  t.test(`HTTP/${version}: GET /admin/events sends the state, then each flip within a second`, async (t) => {
    const { port, health } = await startAdmin(t, { token: "s3cret" });
    health.set("db", Serving);
    const refused = await openEventStream(port, version, "/admin/events");
    t.equal(refused.status, 401, "no token: 401");
    await refused.ended;
    const events = await openEventStream(port, version, "/admin/events", { authorization: "Bearer s3cret" });
    t.teardown(() => events.close());
    t.equal(events.status, 200);
    t.equal(events.headers["content-type"], "text/event-stream; charset=utf-8");
    t.equal(events.headers["cache-control"], "no-store");
    const first = await events.next();
    t.equal(first.event, "health");
    const state = JSON.parse(first.data) as HealthState;
    t.match(state.services, [{ service: "" }, { service: "grpc.health.v1.Health" }, { service: "db" }]);
    const started = Date.now();
    health.override("db", NotServing, "flip");
    const flip = JSON.parse((await events.next(1000)).data) as HealthState;
    t.ok(Date.now() - started < 1000, `flip seen after ${Date.now() - started} ms`);
    t.match(
      flip.services.find((s) => s.service === "db"),
      { status: "NOT_SERVING", source: "override" },
    );
    t.match(flip.changes.at(-1), { service: "db", from: "SERVING", to: "NOT_SERVING", reason: "flip" });
    // A burst of changes (a drain of every service) goes out as one event.
    health.drain("burst");
    const drained = JSON.parse((await events.next(1000)).data) as HealthState;
    t.equal(drained.draining, true);
    t.ok(
      drained.services.every((s) => s.status === "NOT_SERVING"),
      "the whole drain in one event",
    );
    await t.rejects(events.next(200), /no event/, "and no more after it");
    t.equal(await grpcCheck(port), NotServing, "the server still answers a Check");
  });

  t.test(`HTTP/${version}: the page and the stream keep the Host and Origin checks`, async (t) => {
    const { port } = await startAdmin(t);
    const host = version === "2" ? ":authority" : "host";
    for (const path of ["/admin/", "/admin/events", "/admin/status.js"]) {
      for (const [what, headers] of [
        ["rebound Host", { [host]: "rebind.attacker.example" }],
        ["foreign Origin", { [host]: `127.0.0.1:${port}`, origin: "http://evil.example" }],
      ] as const) {
        const response = await openEventStream(port, version, path, headers);
        t.equal(response.status, 403, `${path}, ${what}: 403`);
        await response.ended;
      }
    }
    const page = await openEventStream(port, version, "/admin/", { origin: `http://127.0.0.1:${port}` });
    t.equal(page.status, 200, "its own origin is fine");
    await page.ended;
    t.equal(await grpcCheck(port), Serving, "the server still answers a Check");
  });

  t.test(`HTTP/${version}: event streams are capped; a closed one frees its slot`, async (t) => {
    const { port } = await startAdmin(t, { maxEventStreams: 2 });
    const open = [
      await openEventStream(port, version, "/admin/events"),
      await openEventStream(port, version, "/admin/events"),
    ];
    t.teardown(() => {
      for (const stream of open) stream.close();
    });
    for (const stream of open) t.equal(stream.status, 200);
    const third = await openEventStream(port, version, "/admin/events");
    t.equal(third.status, 429, "one more: 429");
    await third.ended;
    t.same(JSON.parse(third.text), { error: "2 event streams are open already; close one first" });
    t.equal((await h1request(`http://127.0.0.1:${port}/admin/health`, { method: "GET" })).status, 200);
    open[0]?.close();
    // The server sees the reset a moment later; until then the slot is still taken.
    let again = await openEventStream(port, version, "/admin/events");
    for (let i = 0; i < 100 && again.status !== 200; i++) {
      await again.ended;
      await new Promise((resolve) => setTimeout(resolve, 20));
      again = await openEventStream(port, version, "/admin/events");
    }
    t.equal(again.status, 200, "the slot comes back");
    again.close();
    t.equal(await grpcCheck(port), Serving, "the server still answers a Check");
  });

  t.test(`HTTP/${version}: heartbeat comments keep a quiet stream alive`, async (t) => {
    const { port } = await startAdmin(t, { eventHeartbeatMs: 40 });
    const events = await openEventStream(port, version, "/admin/events");
    t.teardown(() => events.close());
    await events.next();
    t.ok(await waitFor(() => events.comments.length >= 2, 3000), "heartbeats came");
    t.equal(events.comments[0], "heartbeat");
  });

  t.test(`HTTP/${version}: server close ends the streams at once, also after a drain`, async (t) => {
    for (const drainFirst of [false, true]) {
      const { port, health, server } = await startAdmin(t);
      const events = await openEventStream(port, version, "/admin/events");
      await events.next();
      if (drainFirst) {
        health.drain();
        await events.next();
      }
      const started = Date.now();
      await server.close({ graceMs: 10_000 });
      await events.ended;
      const took = Date.now() - started;
      t.ok(took < 5000, `drained first: ${drainFirst}; closed in ${took} ms, not at the 10 s grace deadline`);
      t.match(
        JSON.parse(
          events.text
            .trim()
            .split("\n\n")
            .at(-1)
            ?.replace(/^event: health\ndata: /, "") ?? "",
        ),
        {
          shutdown: true,
        },
        "the last event says so",
      );
    }
  });
}

t.test("after shutdown, GET /admin/events is 503", async (t) => {
  const registry = new HealthRegistry();
  const handler = createAdminHandler(registry);
  registry.shutdown();
  const response = await handler(req("GET", "/admin/events"));
  t.equal(response?.status, 503);
  t.same(JSON.parse(String(response?.body)), { error: "the server is shutting down" });
});

function fakeStream(accept: () => boolean, aborted = false) {
  const controller = new AbortController();
  if (aborted) controller.abort();
  const written: string[] = [];
  let ended = 0;
  const stream: PlainHttpStream = {
    signal: controller.signal,
    write(chunk) {
      written.push(String(chunk));
      return accept();
    },
    end() {
      ended++;
      controller.abort();
    },
  };
  return { stream, written, ended: () => ended };
}

t.test("AdminEventStreams: a reader that cannot keep up is cut off, not queued for", async (t) => {
  const registry = new HealthRegistry();
  const streams = new AdminEventStreams(registry, () => ({ n: registry.size }), {
    maxStreams: 1,
    heartbeatMs: 60_000,
    coalesceMs: 1,
  });
  let full = false;
  const slow = fakeStream(() => !full);
  streams.open().stream?.(slow.stream);
  t.equal(streams.size, 1);
  t.same(slow.written, ['event: health\ndata: {"n":1}\n\n']);
  full = true;
  registry.set("x", Serving);
  t.ok(await waitFor(() => slow.ended() === 1, 2000), "ended when its buffer filled");
  t.equal(streams.size, 0, "and its slot is free");
  t.equal(slow.written.length, 2);
});

t.test("AdminEventStreams: a stream whose head could not go gives its slot back", async (t) => {
  const registry = new HealthRegistry();
  const streams = new AdminEventStreams(registry, () => ({}), { maxStreams: 1, heartbeatMs: 60_000 });
  const gone = fakeStream(() => true, true);
  const response = streams.open();
  t.equal(streams.size, 1, "reserved at once");
  t.equal(streams.open().status, 429, "so a second request in the same turn is refused");
  response.stream?.(gone.stream);
  t.equal(streams.size, 0, "given back");
  t.same(gone.written, [], "nothing written");
  t.equal(streams.open().status, 200);
});
