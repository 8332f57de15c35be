// The status page of a sidecar as an operator runs it (`serve -admin -check … -registry …` against a real
// ZooKeeper), in headless Chromium over the DevTools protocol: the checks panel (target, streaks, last
// duration, next attempt, last error, kept fresh without a status change), identity with the listening
// address and the registry state, Drain asking first and then showing it drains, the per-service buttons
// saying what they do under a drain, and a 420 px wide window where the tables scroll inside the page.
// With STATUS_PAGE_SCREENSHOTS=DIR, PNGs of the page at 1280 and 420 px are written there.
import { mkdirSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import t from "tap";
import { launchChromium } from "../fixtures/chromium.ts";
import { startCli } from "../fixtures/run-cli.ts";
import { listenLocal } from "../fixtures/start-server.ts";
import { needs } from "../fixtures/tools.ts";
import { needsZooKeeper, startEnsemble } from "../fixtures/zookeeper-ensemble.ts";

const text = (selector: string) => `(document.querySelector(${JSON.stringify(selector)})?.textContent ?? "")`;
const click = (selector: string) => `document.querySelector(${JSON.stringify(selector)}).click()`;

t.test(
  "a sidecar's status page: checks, identity, drain, narrow window",
  { ...needs("chromium"), ...needsZooKeeper() },
  async (t) => {
    const ensemble = await startEnsemble(t, 1);
    const target = await listenLocal(
      net.createServer((socket) => socket.destroy()),
      t,
    );
    const serve = startCli(t, [
      "serve",
      "-port=0",
      "-admin",
      "-sample",
      `-check=db=tcp://127.0.0.1:${target.port},interval=400ms,failures=1`,
      "-registry",
      `zookeeper://${ensemble.connectString}`,
      "-application",
      "page-app",
      "-drain-delay=0s",
    ]);
    const [, url] = await serve.line(/serving .* on (http:\/\/\S+) /, 60_000);
    await serve.line(/registry registered .*providers/, 60_000);
    const health = async () => (await (await fetch(`${url}/admin/health`)).json()) as { draining: boolean };

    const page = await launchChromium(t);
    await page.setViewport(1280, 900);
    await page.navigate(`${url}/admin/`);
    await page.waitFor(`document.getElementById("connection").dataset.state === "live"`, 15_000);

    // Identity: which process, where it listens, and the registry state.
    await page.waitFor(`${text("#identity")}.includes("registered (")`, 10_000);
    const identity = await page.evaluate<string>(text("#identity"));
    t.match(identity, `on ${url}`, "the listening address");
    t.match(identity, /registry: session connected, registered \(\d+ nodes\)/, "the registry state");

    // The checks panel.
    const row = (cls: string) => text(`tr[data-check="db"] .${cls}`);
    t.equal(await page.evaluate(`document.getElementById("checks-panel").hidden`), false);
    t.equal(await page.evaluate(row("target")), `tcp://127.0.0.1:${target.port}`, "the target");
    t.match(await page.evaluate(row("streak")), /^0 failed, [1-9]\d* passed$/, "both streaks");
    t.match(await page.evaluate(row("took")), /^\d+ ms$/, "the last attempt's duration");
    t.match(await page.evaluate(row("next")), /\d{4}.*\d\d:\d\d:\d\d/, "the next attempt's time");
    // Attempts change no status, yet the panel follows them.
    const attempts = Number(await page.evaluate(row("attempts")));
    await page.waitFor(`Number(${row("attempts")}) >= ${attempts + 2}`, 10_000);

    if (process.env["STATUS_PAGE_SCREENSHOTS"] !== undefined) {
      mkdirSync(process.env["STATUS_PAGE_SCREENSHOTS"], { recursive: true });
      writeFileSync(
        join(process.env["STATUS_PAGE_SCREENSHOTS"], "status-1280.png"),
        await page.screenshot({ fullPage: true }),
      );
    }

    // A phone-sized window: the page does not overflow, the tables scroll inside it.
    await page.setViewport(420, 900);
    t.ok(
      await page.evaluate<boolean>("document.documentElement.scrollWidth <= window.innerWidth"),
      "no horizontal overflow of the page at 420 px",
    );
    for (const id of ["services-scroll", "checks-scroll"]) {
      const box = await page.evaluate<{ scroll: number; client: number; overflow: string }>(
        `(() => { const e = document.getElementById(${JSON.stringify(id)}); return { scroll: e.scrollWidth, client: e.clientWidth, overflow: getComputedStyle(e).overflowX }; })()`,
      );
      t.equal(box.overflow, "auto", `${id} scrolls`);
      t.ok(box.client <= 420, `${id} fits the window (${box.client} px)`);
      t.ok(box.scroll > box.client, `${id}: its table is wider (${box.scroll} px) and scrolls inside`);
    }
    if (process.env["STATUS_PAGE_SCREENSHOTS"] !== undefined)
      writeFileSync(
        join(process.env["STATUS_PAGE_SCREENSHOTS"], "status-420.png"),
        await page.screenshot({ fullPage: true }),
      );
    await page.setViewport(1280, 900);

    // Drain asks first; Cancel sends nothing.
    t.equal(
      await page.evaluate(`document.querySelector('tr[data-service="db"] .actions').dataset.effect`),
      "now",
    );
    await page.evaluate(click("#drain"));
    t.equal(await page.evaluate(`document.getElementById("drain-confirm").hidden`), false, "asked");
    t.match(await page.evaluate(text("#drain-confirm")), /NOT_SERVING[\s\S]* until Resume/);
    await new Promise((resolve) => setTimeout(resolve, 300));
    t.equal((await health()).draining, false, "nothing sent before the answer");
    await page.evaluate(click("#drain-no"));
    t.equal(await page.evaluate(`document.getElementById("drain-confirm").hidden`), true);
    t.equal((await health()).draining, false, "Cancel sends nothing");
    await page.evaluate(click("#drain"));
    await page.evaluate(click("#drain-yes"));
    await page.waitFor(`${text("#mode")} === "draining"`, 5000);
    t.equal((await health()).draining, true, "Drain now drains");
    t.equal(await page.evaluate(`document.getElementById("drain").disabled`), true);
    t.equal(await page.evaluate(text("#drain")), "Draining…", "Drain shows it is draining");
    t.equal(await page.evaluate(text("#health")), "NOT_SERVING", "health agrees with the drain");

    if (process.env["STATUS_PAGE_SCREENSHOTS"] !== undefined)
      writeFileSync(
        join(process.env["STATUS_PAGE_SCREENSHOTS"], "status-1280-draining.png"),
        await page.screenshot({ fullPage: true }),
      );

    // The per-service buttons under a drain say they act after Resume.
    const actions = `document.querySelector('tr[data-service="greet.GreetService"] .actions')`;
    t.equal(await page.evaluate(`${actions}.dataset.effect`), "after-resume");
    t.equal(await page.evaluate(`${actions}.querySelector(".after-resume").textContent`), "after Resume:");
    t.match(
      await page.evaluate(`${actions}.querySelector('button[data-status="NOT_SERVING"]').title`),
      /override: NOT_SERVING until cleared; the drain keeps it NOT_SERVING until Resume/,
    );
    // Drained, the registry nodes go: identity says so.
    await page.waitFor(`${text("#identity")}.includes("not registered")`, 10_000);

    await page.evaluate(click("#resume"));
    await page.waitFor(`${text("#mode")} === "off"`, 5000);
    t.equal(await page.evaluate(`document.getElementById("drain").disabled`), false);
    await page.waitFor(`${text("#identity")}.includes("registered (")`, 10_000);

    // The target goes away: the panel shows the failure streak and the last error.
    await target.close();
    await page.waitFor(`/^[1-9]\\d* failed, 0 passed$/.test(${row("streak")})`, 10_000);
    t.match(await page.evaluate(row("reason")), /ECONNREFUSED|refused/, "the last error");
    t.equal(await page.evaluate(row("status")), "failing");
    t.equal(await serve.stop("SIGTERM"), 0);
  },
);
