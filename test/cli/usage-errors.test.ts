// The CLI's usage edge cases a new user runs into: help for an unknown command, a typo'd command, extra
// arguments, list's flags, the deprecated -grace-ms, decode's --proto file, watch of an unknown service.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { closestCommand } from "../../src/cli/main.ts";
import { runCli } from "../fixtures/run-cli.ts";
import { startServer } from "../fixtures/start-server.ts";

t.test("help of an unknown command is an error, with the usage", async (t) => {
  const run = await runCli(["help", "nope"]);
  t.equal(run.code, 1);
  t.match(run.stderr, /unknown command 'nope'/);
  t.match(run.stderr, /usage: triple-health/);
  t.equal(run.stdout, "");
  const known = await runCli(["help", "check"]);
  t.equal(known.code, 0, "help check still shows check's help");
  t.match(known.stdout, /usage: triple-health check/);
});

t.test("a typo'd command: did you mean", async (t) => {
  const run = await runCli(["chek"]);
  t.equal(run.code, 1);
  t.match(run.stderr, /unknown command 'chek': did you mean check\?/);
  t.equal(closestCommand("wacth"), "watch", "a swap");
  t.equal(closestCommand("LIST"), "list", "case");
  t.equal(closestCommand("servr"), "serve");
  t.equal(closestCommand("zzzzzz"), undefined, "nothing close");
  const far = await runCli(["zzzzzz"]);
  t.notMatch(far.stderr, /did you mean/);
});

t.test("extra positional arguments are an error", async (t) => {
  const withAddr = await runCli(["check", "-addr", "127.0.0.1:1", "extra"]);
  t.equal(withAddr.code, 1);
  t.match(withAddr.stderr, /^error: unexpected argument "extra"\n$/);
  const twoPositionals = await runCli(["list", "127.0.0.1:1", "more"]);
  t.equal(twoPositionals.code, 1);
  t.match(twoPositionals.stderr, /unexpected argument "more"/);
});

t.test("list offers no -service and refuses it", async (t) => {
  const help = await runCli(["list", "-h"]);
  t.equal(help.code, 0);
  t.notMatch(help.stdout, /-service/);
  const run = await runCli(["list", "-addr", "127.0.0.1:1", "-service", "x"]);
  t.equal(run.code, 1);
  t.match(run.stderr, /flag provided but not defined: -service/);
});

t.test("check of a bare host (no port): exit 2 at once, saying so", async (t) => {
  const run = await runCli(["check", "-addr", "localhost"]);
  t.equal(run.code, 2);
  t.match(run.stderr, /failed to connect service at "localhost": missing port in address/);
  t.equal((await runCli(["check", "-addr", "[::1]"])).code, 2, "IPv6 in brackets, no port");
});

t.test("-grace-ms prints a deprecation warning", async (t) => {
  const { port } = await startServer(t);
  // The port is taken, so serve exits 2 right after reading its flags.
  const run = await runCli(["serve", "-grace-ms", "250", "-port", String(port)]);
  t.equal(run.code, 2, "cannot listen", { stderr: run.stderr });
  t.match(run.stderr, /warning: -grace-ms is deprecated: use -grace 250ms/);
  const quiet = await runCli(["serve", "-grace", "250ms", "-port", String(port)]);
  t.notMatch(quiet.stderr, /deprecated/);
});

t.test("decode --proto of a missing file names the flag", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "decode-proto-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const missing = join(dir, "nope.proto");
  const run = await runCli(["decode", "--proto", missing, "--type", "a.B"], "00");
  t.equal(run.code, 1);
  t.equal(run.stderr, `error: --proto ${JSON.stringify(missing)}: no such file\n`);
});

t.test("watch of an unknown service says so once on stderr", async (t) => {
  const { port } = await startServer(t);
  const run = await runCli(["watch", "-addr", `127.0.0.1:${port}`, "-service", "no.Such", "-count", "1"]);
  t.equal(run.code, 0, "", { stderr: run.stderr });
  t.match(run.stdout, /"no\.Such" SERVICE_UNKNOWN\n$/);
  t.match(run.stderr, /^hint: the server does not know service "no\.Such"; watching until it is registered/);
  const known = await runCli(["watch", "-addr", `127.0.0.1:${port}`, "-count", "1"]);
  t.equal(known.stderr, "", "no hint for a known one");
});
