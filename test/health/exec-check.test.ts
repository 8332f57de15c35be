import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { execCheck } from "../../src/health/exec-check.ts";
import { ConfigError } from "../../src/wire/config-error.ts";

const signal = () => new AbortController().signal;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Gone, or a zombie no one reaped yet (a container's PID 1 may never reap): either way not running. */
function running(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}

t.test("exit 0 passes; another code fails with the code and the start of the output", async (t) => {
  const ok = execCheck({ command: ["true"] });
  t.equal(ok.name, "exec true");
  await t.resolves(ok.run(signal()) as Promise<void>);
  const failing = execCheck({ command: ["/bin/sh", "-c", "echo not ready; echo 'on  stderr' >&2; exit 3"] });
  await t.rejects(failing.run(signal()) as Promise<void>, { message: "exit code 3: not ready on stderr" });
  const quiet = execCheck({ command: ["false"], name: "q" });
  t.equal(quiet.name, "q");
  await t.rejects(quiet.run(signal()) as Promise<void>, { message: "exit code 1" });
});

t.test("the environment and working directory are passed on", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "exec-check-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const probe = execCheck({
    command: ["/bin/sh", "-c", 'test "$READY" = yes && test "$(pwd)" = "$WANT"'],
    env: { READY: "yes", WANT: dir, PATH: process.env.PATH },
    cwd: dir,
  });
  await t.resolves(probe.run(signal()) as Promise<void>);
});

t.test("output beyond maxOutputBytes is read and dropped: the reason stays small", async (t) => {
  const probe = execCheck({
    command: ["/bin/sh", "-c", "head -c 1000000 /dev/zero | tr '\\0' x; exit 2"],
    maxOutputBytes: 64,
  });
  const error = await (probe.run(signal()) as Promise<void>).then(
    () => undefined,
    (e: Error) => e,
  );
  t.equal(error?.message, `exit code 2: ${"x".repeat(64)}`, "a megabyte written, 64 bytes kept, no hang");
});

t.test("a command that cannot start fails with the spawn error", async (t) => {
  const probe = execCheck({ command: ["/no/such/program", "x"] });
  await t.rejects(probe.run(signal()) as Promise<void>, { message: "exec /no/such/program: ENOENT" });
});

t.test("abort (the timeout) kills the whole process group, the shell's children too", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "exec-check-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const pidFile = join(dir, "pid");
  const probe = execCheck({ command: ["/bin/sh", "-c", `sleep 60 & echo $! > ${pidFile}; wait`] });
  const controller = new AbortController();
  const attempt = probe.run(controller.signal) as Promise<void>;
  let child = 0;
  for (let i = 0; i < 200 && child === 0; i++) {
    await sleep(50);
    child = Number((await readFile(pidFile, "utf8").catch(() => "")).trim()) || 0;
  }
  t.ok(child > 0 && running(child), "the background sleep runs");
  controller.abort(new DOMException("timed out after 100 ms", "TimeoutError"));
  await t.rejects(attempt, { message: "timed out after 100 ms" });
  for (let i = 0; i < 100 && running(child); i++) await sleep(50);
  t.notOk(running(child), "the background sleep was killed with its group");

  const aborted = AbortSignal.abort(new Error("stopped"));
  await t.rejects(
    probe.run(aborted) as Promise<void>,
    { message: "stopped" },
    "aborted before: nothing spawned",
  );
});

t.test("bad options are ConfigErrors", async (t) => {
  t.throws(() => execCheck({ command: [] }), ConfigError);
  t.throws(() => execCheck({ command: [""] }), ConfigError);
  t.throws(() => execCheck({ command: ["true"], maxOutputBytes: -1 }), ConfigError);
});
