// The ZooKeeper client stays off the core (issue 22): importing the main entry (src/index.ts, built to the
// package's "." export), running a server without a registry, and loading the `serve` command never load
// src/discovery/zookeeper/; a server given a registry does (the control, so the probe can fail). A child
// process records every module URL it resolves through a module.register() resolve hook.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import t from "tap";
import { runNode } from "../fixtures/node-process.ts";

const src = (path: string) => pathToFileURL(join(import.meta.dirname, "../../src", path)).href;

t.test("the core never loads the ZooKeeper client; a registry does", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "th-core-zk-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, "resolved.log");
  writeFileSync(log, "");
  // Runs in the hooks thread: one line per resolved URL, written before the import it serves completes.
  const hooks = join(dir, "hooks.mjs");
  writeFileSync(
    hooks,
    `import { appendFileSync } from "node:fs";
let file;
export function initialize(data) { file = data.file; }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(file, result.url + "\\n");
  return result;
}
`,
  );
  const script = join(dir, "probe.mjs");
  writeFileSync(
    script,
    `import { readFileSync } from "node:fs";
import { register } from "node:module";
register(${JSON.stringify(pathToFileURL(hooks).href)}, { data: { file: ${JSON.stringify(log)} } });
const loaded = () => readFileSync(${JSON.stringify(log)}, "utf8").split("\\n").filter((url) => url.includes("/src/discovery/zookeeper/"));
const seen = {};
const core = await import(${JSON.stringify(src("index.ts"))});
seen.importCore = loaded();
const plain = core.createTripleServer({});
await plain.listen(0, "127.0.0.1");
await plain.close({ graceMs: 0 });
seen.serverWithoutRegistry = loaded();
await import(${JSON.stringify(src("cli/commands/serve.ts"))});
seen.serveCommand = loaded();
seen.indexResolved = readFileSync(${JSON.stringify(log)}, "utf8").includes(${JSON.stringify(src("index.ts"))});
const registered = core.createTripleServer({ registry: "zookeeper://127.0.0.1:9?timeout=200", application: "probe" });
await registered.listen(0, "127.0.0.1");
await registered.close({ graceMs: 0, drainDelayMs: 0 });
seen.serverWithRegistry = loaded();
console.log(JSON.stringify(seen));
`,
  );
  const run = await runNode([script], { killAfterMs: 60_000 });
  t.equal(run.code, 0, run.stderr);
  const seen = JSON.parse(run.stdout.trim().split("\n").at(-1)!) as Record<string, string[] | boolean>;
  t.equal(seen["indexResolved"], true, "the probe saw the main entry resolve");
  t.same(seen["importCore"], [], "import of the main entry: no ZooKeeper module");
  t.same(seen["serverWithoutRegistry"], [], "a server without a registry: none");
  t.same(seen["serveCommand"], [], "the serve command's modules: none");
  t.ok(
    (seen["serverWithRegistry"] as string[]).some((url) => url.endsWith("/zookeeper/zookeeper-client.ts")),
    "control: a server with a registry loads the client",
  );
});
