// The admin status page in a real browser (issue 17 item 3): Debian's headless Chromium, driven over the
// DevTools protocol. The page loads and lists the services, shows a flip made on the server within a
// second, and its buttons change the server's statuses — with the admin token given in the URL fragment,
// and typed into the page's form.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { createAdminHandler } from "../../src/health/admin-handler.ts";
import { HealthRegistry } from "../../src/health/registry.ts";
import { launchChromium } from "../fixtures/chromium.ts";
import { startServer } from "../fixtures/start-server.ts";
import { needs } from "../fixtures/tools.ts";
import { waitFor } from "../hardening/fixtures/attack.ts";

const { Serving, NotServing } = ServingStatus;
const token = "s3cret-token";

const statusOf = (service: string) =>
  `document.querySelector('tr[data-service="${service}"] .status')?.textContent`;
const click = (selector: string) => `document.querySelector(${JSON.stringify(selector)}).click()`;

t.test("the status page in headless Chromium", needs("chromium"), async (t) => {
  const health = new HealthRegistry();
  health.set("db", Serving, "started");
  health.set("cache", Serving, "started");
  const { url } = await startServer(t, {
    health,
    plainHttpHandlers: [createAdminHandler(health, { token })],
  });
  const page = await launchChromium(t);

  await page.navigate(`${url}/admin/#token=${token}`);
  await page.waitFor(`document.getElementById("connection").dataset.state === "live"`, 15_000);
  t.same(
    await page.evaluate(
      `[...document.querySelectorAll("#services tr")].map((row) => [row.dataset.service, row.querySelector(".status").textContent])`,
    ),
    [
      ["", "SERVING"],
      ["db", "SERVING"],
      ["cache", "SERVING"],
      ["grpc.health.v1.Health", "SERVING"],
    ],
    "every service with its status",
  );
  t.equal(await page.evaluate("location.hash"), "", "the token left the address bar");
  t.equal(
    await page.evaluate(`sessionStorage.getItem("triple-health-admin-token")`),
    token,
    "kept for the tab",
  );

  // A flip made on the server shows within a second.
  const flipped = Date.now();
  health.markFailing("db", "ping", "ping: connection refused");
  await page.waitFor(`${statusOf("db")} === "NOT_SERVING"`, 1000);
  t.ok(Date.now() - flipped < 1000, `the flip showed after ${Date.now() - flipped} ms`);
  t.equal(
    await page.evaluate(`document.querySelector('tr[data-service="db"] .source').textContent`),
    "check (ping)",
  );
  t.equal(
    await page.evaluate(`document.querySelector('tr[data-service="db"] .reason').textContent`),
    "ping: connection refused",
  );
  t.match(
    await page.evaluate(`document.querySelector("#changes li").textContent`),
    /db: SERVING → NOT_SERVING +\[check by ping\] ping: connection refused/,
  );
  // Recovered: the application's own status holds it again, and the cell names who changed it, as the log does.
  health.markPassing("db", "ping", "ping: passing again");
  await page.waitFor(`${statusOf("db")} === "SERVING"`, 2000);
  t.equal(
    await page.evaluate(`document.querySelector('tr[data-service="db"] .source').textContent`),
    "set, last change by ping",
  );

  // The buttons: set, clear, drain, resume — each changes the server's registry.
  await page.evaluate(`document.getElementById("reason").value = "pinned from the page"`);
  await page.evaluate(click('tr[data-service="cache"] button[data-status="NOT_SERVING"]'));
  t.ok(await waitFor(() => health.get("cache") === NotServing), "set NOT_SERVING reached the server");
  t.equal(health.snapshotOf("cache")?.reason, "pinned from the page");
  await page.waitFor(`${statusOf("cache")} === "NOT_SERVING"`, 2000);
  await page.evaluate(click('tr[data-service="cache"] button[data-status="null"]'));
  t.ok(await waitFor(() => health.get("cache") === Serving), "clear override reached the server");
  t.equal(health.snapshotOf("cache")?.override, undefined);

  await page.evaluate(`document.getElementById("reason").value = ""`);
  await page.evaluate(click("#drain"));
  await page.evaluate(click("#drain-yes"));
  t.ok(await waitFor(() => health.draining), "drain reached the server");
  await page.waitFor(`document.getElementById("mode").textContent === "draining"`, 2000);
  t.match(
    await page.evaluate(`document.getElementById("identity").textContent`),
    new RegExp(`\\(pid ${process.pid}\\) · Node ${process.version} · up `),
    "which process this is",
  );
  // Health and drain apart, never contradicting: drained, the server's health is NOT_SERVING.
  t.equal(await page.evaluate(`document.getElementById("health").textContent`), "NOT_SERVING");
  t.equal(
    await page.evaluate(`document.getElementById("drain").disabled`),
    true,
    "Drain shows it is draining",
  );
  t.equal(
    await page.evaluate(`document.getElementById("drain-note").hidden`),
    false,
    "the buttons' effect explained",
  );
  t.match(
    await page.evaluate(`document.querySelector("td.since").textContent`),
    /\d{4}.*(UTC|GMT|[A-Z]{2,5}|[+-]\d)/,
    "dates with year and time zone",
  );
  t.equal(await page.evaluate(statusOf("")), "NOT_SERVING");
  await page.evaluate(click("#resume"));
  t.ok(await waitFor(() => !health.draining), "resume reached the server");
  await page.waitFor(`document.getElementById("mode").textContent === "off"`, 2000);

  // Without the token (a new tab's session): the page asks for it, and works once it is typed in.
  await page.evaluate(`sessionStorage.clear()`);
  await page.navigate(`${url}/admin/`);
  await page.waitFor(`!document.getElementById("token-form").hidden`, 5000);
  t.equal(await page.evaluate(`document.getElementById("connection").dataset.state`), "locked");
  t.equal(await page.evaluate(`document.querySelectorAll("#services tr").length`), 0, "no data without it");
  await page.evaluate(`document.getElementById("token").value = "wrong"`);
  await page.evaluate(click('#token-form button[type="submit"]'));
  await page.waitFor(`document.getElementById("error").textContent === "the token was refused"`, 5000);
  await page.evaluate(`document.getElementById("token").value = ${JSON.stringify(token)}`);
  await page.evaluate(click('#token-form button[type="submit"]'));
  await page.waitFor(`document.getElementById("connection").dataset.state === "live"`, 5000);
  await page.evaluate(click('tr[data-service="db"] button[data-status="SERVING"]'));
  t.ok(await waitFor(() => health.snapshotOf("db")?.override === Serving), "and its buttons work");
  await page.waitFor(`${statusOf("db")} === "SERVING"`, 2000);
});

t.test("a refused action shows the server's error", needs("chromium"), async (t) => {
  const health = new HealthRegistry();
  const { url, server } = await startServer(t, { health, plainHttpHandlers: [createAdminHandler(health)] });
  const page = await launchChromium(t);
  await page.navigate(`${url}/admin/`);
  await page.waitFor(`document.getElementById("connection").dataset.state === "live"`, 15_000);
  health.shutdown("closing");
  await page.waitFor(`document.getElementById("mode").textContent === "shutting down"`, 5000);
  t.equal(
    await page.evaluate(`document.getElementById("resume").disabled`),
    true,
    "Resume is off once closing",
  );
  // Sent anyway (a page that had not heard of the shutdown yet): the server's refusal is shown.
  await page.evaluate(`document.getElementById("resume").disabled = false`);
  await page.evaluate(click("#resume"));
  await page.waitFor(`document.getElementById("error").textContent !== ""`, 5000);
  t.equal(
    await page.evaluate(`document.getElementById("error").textContent`),
    "409: the server is shutting down",
  );
  t.equal(await page.evaluate(`document.getElementById("mode").textContent`), "shutting down");
  await server.close({ graceMs: 0 });
  await page.waitFor(`document.getElementById("connection").dataset.state !== "live"`, 5000);
});

t.test("the README's chromium --dump-dom command shows the rows", needs("chromium"), async (t) => {
  const health = new HealthRegistry();
  const { url } = await startServer(t, { health, plainHttpHandlers: [createAdminHandler(health)] });
  health.set("greet.GreetService", ServingStatus.NotServing, "deploy in progress");
  const profile = mkdtempSync(join(tmpdir(), "th-dump-dom-"));
  t.teardown(() => rmSync(profile, { recursive: true, force: true }));
  // The README's command (plus what running as root in a test needs: no sandbox, a profile of its own).
  const dom = await new Promise<string>((resolve, reject) => {
    execFile(
      "chromium",
      [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        `--user-data-dir=${profile}`,
        "--virtual-time-budget=4000",
        "--dump-dom",
        `${url}/admin/`,
      ],
      { timeout: 60_000, maxBuffer: 4 * 1024 * 1024 },
      (error, stdout) => (error === null ? resolve(stdout) : reject(error)),
    );
  });
  t.match(dom, /<tr data-service="greet\.GreetService">.*NOT_SERVING.*deploy in progress/s);
  t.match(dom, /id="health"[^>]*>SERVING</, "the server's health");
});
