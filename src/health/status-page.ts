/**
 * The admin status page: an HTML shell, its script and its style sheet, served by the admin handler at
 * `<prefix>/`, `<prefix>/status.js` and `<prefix>/status.css`. No build step and nothing from elsewhere:
 * the script is plain browser JavaScript kept here as text, and the page's Content-Security-Policy lets it
 * load from this origin only.
 */

/**
 * Headers of the page and its assets. A strict CSP (scripts and styles from this origin only, no inline
 * code, connections to this origin only, no forms, no <base>), no framing (a framed page's drain button
 * could be clicked through a decoy: clickjacking), no MIME sniffing, no caching, no Referer.
 */
export const pageSecurityHeaders = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "cache-control": "no-store",
  "referrer-policy": "no-referrer",
} as const;

/** The page for an admin surface mounted at `prefix` (`/admin`). */
export function statusPageHtml(prefix: string): string {
  const at = escapeHtml(prefix);
  return `<!doctype html>
<html lang="en" data-prefix="${at}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>triple-health status</title>
<link rel="stylesheet" href="${at}/status.css">
<script src="${at}/status.js" defer></script>
</head>
<body>
<h1>triple-health status</h1>
<p id="identity"></p>
<header>
<span>health: <span id="health">loading</span></span>
<span>drain: <span id="mode">loading</span></span>
<span>updates: <span id="connection" data-state="connecting">connecting</span></span>
<button type="button" id="drain">Drain</button>
<button type="button" id="resume">Resume</button>
<label>reason <input id="reason" placeholder="(optional)"></label>
</header>
<p id="drain-confirm" role="alertdialog" hidden>Drain this server? Every service answers NOT_SERVING (and a
registry drops it) until Resume. <button type="button" id="drain-yes">Drain now</button>
<button type="button" id="drain-no">Cancel</button></p>
<form id="token-form" hidden>
<label>admin token <input id="token" type="password" autocomplete="off"></label>
<button type="submit">Use token</button>
</form>
<p id="error" role="alert"></p>
<p id="drain-note" hidden>Draining: every service answers NOT_SERVING until Resume. The buttons below set
operator overrides, which take effect after Resume.</p>
<div class="scroll" id="services-scroll">
<table>
<thead><tr><th>service</th><th>status</th><th>reason</th><th title="the layer holding the status (set: the application\u2019s own; check; override; drain; shutdown), and who made the last change when that is someone else (the source of -log json lines)">source</th><th>since</th><th>set override</th></tr></thead>
<tbody id="services"></tbody>
</table>
</div>
<section id="checks-panel" hidden>
<h2>Checks</h2>
<div class="scroll" id="checks-scroll">
<table>
<thead><tr><th>check</th><th>target</th><th>services</th><th>state</th><th>in a row</th><th>attempts</th><th>last attempt</th><th>took</th><th>next attempt</th><th>last error</th></tr></thead>
<tbody id="checks"></tbody>
</table>
</div>
</section>
<section id="registration" hidden>
<h2>Registry</h2>
<p id="registry-summary"></p>
<ul id="registry-nodes"></ul>
</section>
<h2>Last changes</h2>
<ol id="changes" reversed></ol>
</body>
</html>
`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** `<prefix>/status.css`. */
export const statusPageCss = `body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; margin: 0 0 .5em; }
h2 { font-size: 1.1em; margin: 1.2em 0 .4em; }
header { display: flex; gap: .6em 1em; align-items: center; flex-wrap: wrap; margin-bottom: 1em; }
#mode, #health, #connection { padding: .1em .5em; border-radius: .3em; background: #eee; }
#mode[data-mode="off"], #health[data-status="SERVING"], #connection[data-state="live"] { background: #d4f4d4; }
#mode[data-mode="draining"], #mode[data-mode="shutting down"], #health[data-status="NOT_SERVING"] { background: #f8d7d7; }
#drain-note, #drain-confirm { background: #fff3cd; padding: .4em .6em; border-radius: .3em; }
#drain-yes { font-weight: bold; }
#identity, #registry-summary { overflow-wrap: anywhere; }
ol, ul { padding-left: 2.5em; }
#registry-nodes li, #changes li { overflow-wrap: anywhere; }
#error { color: #a00; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3em .6em; border-bottom: 1px solid #ddd; vertical-align: top; white-space: nowrap; }
td.reason { white-space: normal; min-width: 14em; }
td.name, td.target { white-space: normal; overflow-wrap: anywhere; min-width: 10em; }
.status { font-weight: bold; }
.status-SERVING { color: #070; }
.status-NOT_SERVING { color: #b00; }
.status-UNKNOWN, .status-SERVICE_UNKNOWN { color: #a60; }
button { margin-right: .3em; }
.after-resume { color: #856404; font-size: 12px; margin-right: .3em; }
#changes { font-family: ui-monospace, monospace; font-size: 12px; }
@media (max-width: 600px) { body { margin: .8em; } }
`;

/** `<prefix>/status.js`: reads the prefix from the page, so one text serves every mount point. */
export const statusPageScript = String.raw`// The admin status page's script, served at <prefix>/status.js (a file of its own: the page's
// Content-Security-Policy allows scripts from 'self' only, no inline code).
"use strict";
(() => {
  const prefix = document.documentElement.dataset.prefix || "/admin";
  const tokenKey = "triple-health-admin-token";
  const byId = (id) => document.getElementById(id);
  // The token travels in the Authorization header only. Not in a query string: those end up in access
  // logs, proxies and the browser history. Not in a cookie: the browser would attach it to requests
  // other sites make to this origin (CSRF); a header only this script sets is sent by this script only.
  // A "#token=" fragment never leaves the browser; it is moved to sessionStorage (gone with the tab)
  // and erased from the address bar.
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.has("token")) {
    sessionStorage.setItem(tokenKey, fragment.get("token"));
    history.replaceState(null, "", location.pathname);
  }
  let token = sessionStorage.getItem(tokenKey);
  let generation = 0;
  let retry;

  function headers(json) {
    const result = {};
    if (token) result.authorization = "Bearer " + token;
    if (json) result["content-type"] = "application/json";
    return result;
  }

  function setConnection(state, text) {
    const element = byId("connection");
    element.dataset.state = state;
    element.textContent = text;
  }

  function showError(text) {
    byId("error").textContent = text;
  }

  async function errorText(response) {
    try {
      const body = await response.json();
      return response.status + ": " + (body.error || response.statusText);
    } catch {
      return response.status + " " + response.statusText;
    }
  }

  function askForToken(message) {
    generation++;
    setConnection("locked", "token needed");
    byId("token-form").hidden = false;
    showError(message);
  }

  // A date and time with its time zone: an operator compares them with logs from elsewhere.
  function when(ms) {
    return new Date(ms).toLocaleString(undefined, {
      year: "numeric", month: "short", day: "numeric",
      hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
    });
  }

  function uptime(ms) {
    const s = Math.floor(ms / 1000);
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    return (d ? d + "d " : "") + (d || h ? h + "h " : "") + m + "m " + (s % 60) + "s";
  }

  function duration(ms) {
    return ms < 1000 ? Math.round(ms) + " ms" : (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + " s";
  }

  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    row.append(td);
    return td;
  }

  function button(text, action, status) {
    const element = document.createElement("button");
    element.type = "button";
    element.textContent = text;
    element.dataset.action = action;
    if (status !== undefined) element.dataset.status = status;
    return element;
  }

  // Everything the server sends is text put in with textContent, never markup: service names and
  // reasons come from callers and checks.
  function render(state) {
    // Health (what Check of "" answers) and drain (the operator's switch) apart: a drained server is
    // NOT_SERVING, and says why beside it.
    const mode = state.shutdown ? "shutting down" : state.draining ? "draining" : "off";
    byId("mode").textContent = mode;
    byId("mode").dataset.mode = mode;
    const server = state.services.find((service) => service.service === "");
    byId("health").textContent = server ? server.status : "(no server status)";
    byId("health").dataset.status = server ? server.status : "";
    byId("drain").disabled = state.draining;
    byId("drain").textContent = state.draining ? "Draining\u2026" : "Drain";
    byId("resume").disabled = !state.draining || state.shutdown;
    byId("drain-note").hidden = !state.draining;
    if (state.draining) byId("drain-confirm").hidden = true;
    // Who made each service's last change (what -log json calls its source), when still in the list.
    const lastBy = new Map();
    for (const change of state.changes || []) lastBy.set(change.service, change.by);
    const rows = state.services.map((service) => {
      const row = document.createElement("tr");
      row.dataset.service = service.service;
      cell(row, service.service === "" ? "(server)" : service.service, "name");
      cell(row, service.status, "status status-" + service.status);
      cell(row, service.reason, "reason");
      const failing = service.failing.map((f) => f.source).join(", ");
      let source = failing ? service.source + " (" + failing + ")" : service.source;
      const by = lastBy.get(service.service);
      if (by && by !== service.source && !service.failing.some((f) => f.source === by))
        source += ", last change by " + by;
      cell(row, source, "source");
      cell(row, when(service.sinceMs), "since");
      const actions = cell(row, "", "actions");
      // Under a drain an override changes nothing until Resume: the cell says so before the buttons, and
      // each button's title says what it does either way.
      if (state.draining) {
        const note = document.createElement("span");
        note.className = "after-resume";
        note.textContent = "after Resume:";
        actions.append(note);
      }
      const later = state.draining ? "; the drain keeps it NOT_SERVING until Resume" : "";
      for (const status of ["SERVING", "NOT_SERVING", "UNKNOWN"]) {
        const element = button(status, "set", status);
        element.title = "override: " + status + " until cleared" + later;
        actions.append(element);
      }
      if (service.override !== null) {
        const element = button("clear override", "set", "null");
        element.title = "back to what the checks and the application say" + later;
        actions.append(element);
      }
      actions.dataset.effect = state.draining ? "after-resume" : "now";
      return row;
    });
    byId("services").replaceChildren(...rows);
    const changes = (state.changes || [])
      .slice()
      .reverse()
      .map((change) => {
        const item = document.createElement("li");
        const name = change.service === "" ? "(server)" : change.service;
        item.textContent =
          when(change.timeMs) + "  " + name + ": " + (change.from || "(new)") +
          " \u2192 " + (change.to || "(cleared)") + "  [" + change.source + (change.by && change.by !== change.source ? " by " + change.by : "") + "] " + change.reason;
        return item;
      });
    byId("changes").replaceChildren(...changes);
    const registration = state.registration;
    byId("registration").hidden = !registration;
    if (registration) {
      byId("registry-summary").textContent =
        registration.registry + " (" + registration.mode + ", " + registration.application + " at " +
        registration.address + "): session " + registration.session + ", " + registration.nodes.length +
        " node(s)" + (registration.lastError ? "; last error: " + registration.lastError : "");
      byId("registry-nodes").replaceChildren(
        ...registration.nodes.map((node) => {
          const item = document.createElement("li");
          item.textContent = decodeURIComponent(node.replace(/\+/g, " "));
          return item;
        }),
      );
    }
    const checks = (state.checks || []).map((check) => {
      const row = document.createElement("tr");
      row.dataset.check = check.name;
      cell(row, check.name, "name");
      cell(row, check.target || "", "target");
      cell(row, check.services.map((s) => (s === "" ? "(server)" : s)).join(", "));
      cell(row, check.running ? "running" : check.passing ? "passing" : "failing",
        "status status-" + (check.passing ? "SERVING" : "NOT_SERVING"));
      cell(row, check.consecutiveFailures + " failed, " + check.consecutiveSuccesses + " passed", "streak");
      cell(row, String(check.attempts), "attempts");
      cell(row, check.lastAttemptAt == null ? "not yet" : when(check.lastAttemptAt), "last");
      cell(row, check.lastDurationMs == null ? "" : duration(check.lastDurationMs), "took");
      cell(row, check.running ? "after this one" : check.nextAttemptAt == null ? "" : when(check.nextAttemptAt), "next");
      cell(row, check.lastError || "", "reason");
      return row;
    });
    byId("checks").replaceChildren(...checks);
    byId("checks-panel").hidden = checks.length === 0;
    const id = state.identity;
    if (id) {
      const registry = registration
        ? "registry: session " + registration.session + ", " +
          (registration.nodes.length > 0 ? "registered (" + registration.nodes.length + " nodes)" : "not registered")
        : "";
      byId("identity").textContent = [
        id.host + " (pid " + id.pid + ")",
        id.version ? "triple-health " + id.version : "",
        "Node " + id.node,
        "up " + uptime(id.uptimeMs),
        "since " + when(id.startedMs),
        id.addresses && id.addresses.length > 0 ? "on " + id.addresses.join(", ") : "",
        registry,
      ].filter(Boolean).join(" \u00b7 ");
    }
  }

  function dispatch(block) {
    let event = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    if (event !== "health" || data.length === 0) return;
    render(JSON.parse(data.join("\n")));
    // "live" once the server's state is on the page (the stream's first event, sent at once), not when the
    // stream opens: a page saying live over tables still empty would claim more than it shows.
    if (byId("connection").dataset.state !== "live") setConnection("live", "live");
  }

  // EventSource cannot send an Authorization header, so the stream is read with fetch.
  async function listen() {
    clearTimeout(retry);
    const mine = ++generation;
    setConnection("connecting", "connecting");
    try {
      const response = await fetch(prefix + "/events", { headers: headers(false), cache: "no-store" });
      if (response.status === 401) {
        askForToken(token ? "the token was refused" : "this server needs its admin token");
        return;
      }
      if (!response.ok) throw new Error(await errorText(response));
      byId("token-form").hidden = true;
      showError("");
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      while (mine === generation) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, "\n");
        for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
          dispatch(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
      reader.cancel().catch(() => {});
    } catch (error) {
      showError(String(error.message || error));
    }
    if (mine !== generation) return;
    setConnection("offline", "reconnecting");
    retry = setTimeout(listen, 1000);
  }

  async function post(action, body) {
    showError("");
    try {
      const response = await fetch(prefix + "/" + action, {
        method: "POST",
        headers: headers(true),
        body: JSON.stringify(body),
        cache: "no-store",
      });
      if (response.status === 401) askForToken("the token was refused");
      else if (!response.ok) showError(await errorText(response));
    } catch (error) {
      showError(String(error.message || error));
    }
  }

  function reason() {
    const text = byId("reason").value.trim();
    return text === "" ? {} : { reason: text };
  }

  // Drain turns every service NOT_SERVING (and takes a registered server out of its registry): asked
  // once more before it is sent.
  byId("drain").addEventListener("click", () => {
    byId("drain-confirm").hidden = false;
    byId("drain-yes").focus();
  });
  byId("drain-no").addEventListener("click", () => {
    byId("drain-confirm").hidden = true;
  });
  byId("drain-yes").addEventListener("click", () => {
    byId("drain-confirm").hidden = true;
    post("drain", reason());
  });
  byId("resume").addEventListener("click", () => post("resume", reason()));
  byId("services").addEventListener("click", (event) => {
    const target = event.target.closest("button[data-action]");
    if (!target) return;
    const service = target.closest("tr").dataset.service;
    const status = target.dataset.status === "null" ? null : target.dataset.status;
    post("set", { service, status, ...reason() });
  });
  byId("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    token = byId("token").value;
    sessionStorage.setItem(tokenKey, token);
    byId("token").value = "";
    listen();
  });
  listen();
})();
`;
