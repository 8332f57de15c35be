// The command framework every subcommand runs on: help, --version, usage errors, exit codes, stop signals.
import { readFileSync } from "node:fs";
import t from "tap";
import {
  type Command,
  CommandError,
  ExitCode,
  rejectPositionals,
  runCommand,
} from "../../src/cli/command.ts";
import { run as serve } from "../../src/cli/commands/serve.ts";
import { parseFlags } from "../../src/cli/flags.ts";
import { abortOnStopSignals, serveUntilStopped } from "../../src/cli/stop-signals.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { HealthRegistry } from "../../src/health/registry.ts";
import { captureIo, runCli } from "../fixtures/run-cli.ts";

const listeners = (): number => process.listenerCount("SIGINT") + process.listenerCount("SIGTERM");
const version = (JSON.parse(readFileSync("package.json", "utf8")) as { version: string }).version;

t.test("--version: package.json's, from the dispatcher and from every command", async (t) => {
  for (const args of [
    ["--version"],
    ["-version"],
    ["version"],
    ["check", "--version"],
    ["decode", "-version"],
  ]) {
    const result = await runCli(args);
    t.equal(result.code, 0, args.join(" "));
    t.equal(result.stdout, `${version}\n`, args.join(" "));
  }
  const io = captureIo();
  t.equal(await serve(["--version"], io.io), 0, "serve answers without listening");
  t.equal(io.out, `${version}\n`);
});

t.test("help: the dispatcher's, a command's, `help <command>`", async (t) => {
  const top = await runCli(["help"]);
  t.equal(top.code, 0);
  t.match(top.stdout, /usage: triple-health <command>/);
  t.match(top.stdout, /--version/);
  const none = await runCli([]);
  t.equal(none.code, 1, "no command: usage on stderr, exit 1");
  t.match(none.stderr, /usage: triple-health <command>/);
  for (const args of [
    ["help", "check"],
    ["check", "-help"],
    ["check", "--help=true"],
  ]) {
    const result = await runCli(args);
    t.equal(result.code, 0, args.join(" "));
    t.match(result.stdout, /^usage: triple-health check -addr/, args.join(" "));
    t.match(result.stdout, /\nflags:\n {2}-addr host:port/, args.join(" "));
  }
  for (const name of ["serve", "proxy", "decode", "status", "watch", "list", "drain", "resume", "set"]) {
    const result = await runCli([name, "-h"]);
    t.equal(result.code, 0, name);
    t.match(result.stdout, new RegExp(`^usage: triple-health ${name}`), name);
    t.match(result.stdout, /Exit codes/, `${name} documents its exit codes`);
  }
  const unknown = await runCli(["toString"]);
  t.equal(unknown.code, 1, "a name on Object's prototype is no command");
  t.match(unknown.stderr, /unknown command 'toString'/);
});

t.test("runCommand: errors to exit codes, with the command's prefix", async (t) => {
  const make = (host: boolean, run: Command["run"]): Command => ({
    name: "demo",
    host,
    usage: "usage: demo\n",
    flags: { n: { kind: "int", description: "a number" } },
    run,
  });
  let io = captureIo();
  t.equal(
    await runCommand(
      make(false, async () => 7),
      ["-n", "x"],
      io.io,
    ),
    ExitCode.InvalidArguments,
  );
  t.equal(io.err, 'error: invalid value "x" for -n: want a whole number\n');
  io = captureIo();
  const failing = make(true, async () => {
    throw new CommandError(ExitCode.ConnectionFailure, "cannot listen");
  });
  t.equal(await runCommand(failing, [], io.io), 2);
  t.equal(io.err, "triple-health demo: cannot listen\n", "a host names itself");
  io = captureIo();
  t.equal(
    await runCommand(
      make(false, async ({ values, positionals }) => Number(values["n"]) + positionals.length),
      ["-n", "3", "a"],
      io.io,
    ),
    4,
  );
  const bug = make(false, async () => {
    throw new TypeError("a bug");
  });
  await t.rejects(runCommand(bug, [], captureIo().io), TypeError, "anything else is not a usage error");
  t.throws(() => rejectPositionals(["stray"]), /unexpected argument "stray"/);
  t.same(parseFlags(["-version", "-h"], {}), { values: {}, positionals: [], help: true, version: true });
});

t.test("serve: -grace takes a duration, -grace-ms stays as a deprecated alias", async (t) => {
  const { parseServeArgs } = await import("../../src/cli/commands/serve.ts");
  t.equal(parseServeArgs(["-grace", "250ms"], {}).graceMs, 250);
  t.equal(parseServeArgs(["--grace=2s"], {}).graceMs, 2000);
  t.equal(parseServeArgs(["-grace-ms", "70"], {}).graceMs, 70);
  t.equal(parseServeArgs(["-grace", "1s", "-grace-ms", "70"], {}).graceMs, 1000, "-grace wins");
  const help = await runCli(["serve", "-h"]);
  t.match(help.stdout, /-grace duration/);
  t.match(help.stdout, /-grace-ms N\n\s+deprecated/);
  const proxyHelp = await runCli(["proxy", "-h"]);
  t.match(proxyHelp.stdout, /-grace duration/);
});

function fakeHost(close: (options?: { graceMs?: number }) => Promise<void>) {
  const calls: unknown[] = [];
  return {
    calls,
    host: {
      health: new HealthRegistry(),
      close: (options?: { graceMs?: number }) => {
        calls.push(options);
        return close(options);
      },
    },
  };
}

t.test("serveUntilStopped: drain and close on a signal, exit codes", async (t) => {
  const before = listeners();
  const { host, calls } = fakeHost(async () => {});
  const io = captureIo();
  const running = serveUntilStopped(host, io.io, { prefix: "x: ", graceMs: 1500 });
  process.emit("SIGINT", "SIGINT");
  t.equal(await running, 0);
  t.same(calls, [{ graceMs: 1500 }]);
  t.equal(host.health.get(""), ServingStatus.NotServing, "drained, then shut down");
  t.equal(io.out, "x: SIGINT, closing (grace 1.5s)\nx: closed\n");
  t.equal(listeners(), before, "listeners taken back");

  const failing = fakeHost(async () => {
    throw new Error("stuck");
  });
  const failIo = captureIo();
  const failed = serveUntilStopped(failing.host, failIo.io, { prefix: "x: ", graceMs: 0 });
  process.emit("SIGTERM", "SIGTERM");
  t.equal(await failed, 1, "a failed close: 1");
  t.match(failIo.out, /x: close failed: stuck/);
});

t.test("serveUntilStopped: a second signal during the close exits at once", async (t) => {
  let finish = (): void => {};
  const { host } = fakeHost(() => new Promise<void>((resolve) => (finish = resolve)));
  const io = captureIo();
  const exits: number[] = [];
  io.io.exit = (code) => exits.push(code);
  const running = serveUntilStopped(host, io.io, { prefix: "x: ", graceMs: 10_000 });
  process.emit("SIGTERM", "SIGTERM");
  await new Promise((resolve) => setTimeout(resolve, 20));
  process.emit("SIGTERM", "SIGTERM");
  t.equal(await running, 1);
  t.same(exits, [1], "through io.exit, not after the close");
  t.match(io.out, /x: SIGTERM again: exiting now/);
  finish();
});

t.test("abortOnStopSignals", async (t) => {
  const before = listeners();
  const stop = abortOnStopSignals();
  t.notOk(stop.signal.aborted);
  process.emit("SIGTERM", "SIGTERM");
  t.ok(stop.signal.aborted);
  stop.release();
  t.equal(listeners(), before);
});
