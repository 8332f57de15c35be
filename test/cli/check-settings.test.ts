// Per-check settings (issue 26): `-check NAME=URL,interval=5s,timeout=1s,failures=3,successes=1,initial-delay=10s`
// and `-config FILE` (JSON) for the same, errors naming the field (exit 1); the global -check-* flags stay the
// defaults; a running serve shows and uses each check's own timing.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { parseCheckConfig, parseCheckFlag } from "../../src/cli/check-flags.ts";
import { parseServeArgs, run } from "../../src/cli/commands/serve.ts";
import { captureIo, startCli } from "../fixtures/run-cli.ts";
import { listenLocal } from "../fixtures/start-server.ts";

t.test("-check NAME=URL,settings", async (t) => {
  const check = parseCheckFlag(
    "db=tcp://db:5432,interval=5s,timeout=1s,failures=3,successes=2,initial-delay=10s",
  );
  t.same(check, {
    name: "db",
    url: "tcp://db:5432",
    target: { kind: "tcp", host: "db", port: 5432 },
    settings: {
      intervalMs: 5000,
      timeoutMs: 1000,
      failureThreshold: 3,
      successThreshold: 2,
      initialDelayMs: 10_000,
    },
  });
  t.same(
    parseCheckFlag("x=exec:echo a,b").target,
    { kind: "exec", argv: ["echo", "a,b"] },
    "an exec line keeps its commas",
  );
  t.same(parseCheckFlag("x=exec:true,interval=1s").settings, { intervalMs: 1000 });
  t.notOk("settings" in parseCheckFlag("db=tcp://db:1"), "no settings: none");
  for (const [text, message] of [
    ["db=tcp://h:1,interval=soon", /interval must be a duration such as 250ms, 5s or 1m30s, got "soon"/],
    ["db=tcp://h:1,interval=0", /interval must be within 1ms and 24h/],
    ["db=tcp://h:1,timeout=25h", /timeout must be within 1ms and 24h/],
    ["db=tcp://h:1,failures=0", /failures must be a whole number of at least 1, got "0"/],
    ["db=tcp://h:1,successes=x", /successes must be a whole number/],
    ["db=tcp://h:1,interval=1s,interval=2s", /interval is given twice/],
    ["db=tcp://h:1,every=1s", /tcp:\/\/ takes host:port only|bad port/],
  ] as const)
    t.throws(() => parseCheckFlag(text), message, text);
  const serve = parseServeArgs(
    ["-check", "a=tcp://h:1,interval=2s", "-check", "b=tcp://h:2", "-check-interval", "7s"],
    {},
  );
  t.same(serve.checks[0]!.settings, { intervalMs: 2000 });
  t.equal(serve.checkTiming?.intervalMs, 7000, "the global flag stays the default of the others");
  const bad = captureIo();
  t.equal(await run(["--port=0", "-check", "db=tcp://h:1,failures=-1"], bad.io), 1);
  t.match(bad.err, /invalid -check .*failures must be a whole number/);
});

t.test("-config FILE", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "th-config-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "checks.json");
  await writeFile(
    file,
    JSON.stringify({
      checks: [
        {
          name: "db",
          url: "tcp://db:5432",
          interval: "5s",
          timeout: 250,
          failures: 2,
          "initial-delay": "1s",
        },
        { name: "web", url: "http://web:80/healthz" },
      ],
    }),
  );
  const flags = parseServeArgs(["-config", file, "-check", "x=tcp://x:1"], {});
  t.same(
    flags.checks.map((c) => [c.name, c.settings]),
    [
      ["x", undefined],
      ["db", { intervalMs: 5000, timeoutMs: 250, failureThreshold: 2, initialDelayMs: 1000 }],
      ["web", undefined],
    ],
  );
  t.same(parseCheckConfig("{}", "f"), [], "no checks");
  for (const [text, message] of [
    ["nope", /invalid -config "f": not JSON/],
    ["[]", /want an object/],
    ['{"probes": []}', /probes: unknown field \(want checks\)/],
    ['{"checks": {}}', /checks: must be an array/],
    ['{"checks": [1]}', /checks\[0\]: must be an object/],
    ['{"checks": [{"url": "tcp://h:1"}]}', /checks\[0\]\.name: must be a string/],
    ['{"checks": [{"name": "a"}]}', /checks\[0\]\.url: must be a string/],
    ['{"checks": [{"name": "a", "url": "ftp://h"}]}', /checks\[0\]: unknown scheme/],
    [
      '{"checks": [{"name": "a", "url": "tcp://h:1", "interval": true}]}',
      /checks\[0\]\.interval: interval must be a duration/,
    ],
    [
      '{"checks": [{"name": "a", "url": "tcp://h:1", "failures": 1.5}]}',
      /checks\[0\]\.failures: failures must be a whole number/,
    ],
    [
      '{"checks": [{"name": "a", "url": "tcp://h:1", "retries": 3}]}',
      /checks\[0\]\.retries: unknown setting "retries"/,
    ],
  ] as const)
    t.throws(() => parseCheckConfig(text, "f"), message, text);
  const missing = captureIo();
  t.equal(await run(["--port=0", "-config", join(dir, "none.json")], missing.io), 1);
  t.match(missing.err, /cannot read -config/);
  await writeFile(join(dir, "bad.json"), '{"checks": [{"name": "a", "url": "tcp://h:1", "timeout": "0s"}]}');
  const invalid = captureIo();
  t.equal(await run(["--port=0", "-config", join(dir, "bad.json")], invalid.io), 1);
  t.match(
    invalid.err,
    /invalid -config ".*bad\.json": checks\[0\]\.timeout: timeout must be within 1ms and 24h/,
  );
});

t.test("a running serve uses each check's own timing", async (t) => {
  const target = await listenLocal(
    net.createServer((socket) => socket.destroy()),
    t,
  );
  const serve = startCli(t, [
    "serve",
    "--port=0",
    `-check=fast=tcp://127.0.0.1:${target.port},interval=100ms,failures=1`,
    `-check=slow=tcp://127.0.0.1:${target.port},initial-delay=1h`,
    "-check-interval=1h",
  ]);
  await serve.line(/check "fast": tcp:\/\/127\.0\.0\.1:\d+ every 100ms .*NOT_SERVING after 1 failed/);
  await serve.line(/check "slow": tcp:\/\/127\.0\.0\.1:\d+ every 3600s .*first after 3600s\)/);
  await serve.line(/"fast" NOT_SERVING -> SERVING/);
  await target.close();
  await serve.line(/"fast" SERVING -> NOT_SERVING/, 10_000);
  t.notMatch(serve.stdout, /"slow" NOT_SERVING -> SERVING/, "slow has not run yet: its initial delay");
  t.equal(await serve.stop("SIGTERM"), 0);
});
