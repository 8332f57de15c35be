// The bin as npm installs it: a symlink in node_modules/.bin to the CLI's entry file. Run through a
// link, the CLI must still run (it once compared the link's path with its own and silently exited 0).
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import t from "tap";
import { isEntryPoint } from "../../src/cli/main.ts";
import { runNode } from "../fixtures/node-process.ts";
import { unusedPort } from "../fixtures/start-server.ts";

const entry = resolve("src/cli/main.ts");

t.test("isEntryPoint resolves links and refuses what is not this file", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "triple-health-bin-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const link = join(dir, "triple-health");
  symlinkSync(entry, link);
  const url = pathToFileURL(entry).href;
  t.ok(isEntryPoint(entry, url), "the file itself");
  t.ok(isEntryPoint(link, url), "a symlink to it");
  t.notOk(isEntryPoint(undefined, url), "no argv[1] (node -e, a REPL)");
  t.notOk(isEntryPoint(join(dir, "missing"), url), "a path that does not exist");
  t.notOk(isEntryPoint(resolve("package.json"), url), "another file");
});

t.test("run through a symlink, as node_modules/.bin does, the CLI answers and fails", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "triple-health-bin-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const link = join(dir, "triple-health");
  symlinkSync(entry, link);
  const help = await runNode([link, "--help"]);
  t.equal(help.code, 0, "--help exits 0");
  t.match(help.stdout, /usage: triple-health/, "--help prints the usage");
  const port = await unusedPort();
  const check = await runNode([link, "check", "-addr", `127.0.0.1:${port}`, "-connect-timeout", "2s"]);
  t.equal(check.code, 2, "check against a closed port exits 2 (connection failure), not 0");
});
