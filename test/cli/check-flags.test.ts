// `serve -check NAME=URL` read into targets: each form, and a clear usage error for each kind of bad input.
import t from "tap";
import { checkProbe, execArgv, parseCheckFlag, parseCheckFlags } from "../../src/cli/check-flags.ts";
import { FlagError } from "../../src/cli/flags.ts";

t.test("each form", async (t) => {
  t.same(parseCheckFlag("db=tcp://127.0.0.1:5432"), {
    name: "db",
    url: "tcp://127.0.0.1:5432",
    target: { kind: "tcp", host: "127.0.0.1", port: 5432 },
  });
  t.same(parseCheckFlag("db=TCP://db.internal:5432/").target, {
    kind: "tcp",
    host: "db.internal",
    port: 5432,
  });
  t.same(
    parseCheckFlag("db=tcp://my_db:5432").target,
    { kind: "tcp", host: "my_db", port: 5432 },
    "Compose names",
  );
  t.same(
    parseCheckFlag("v6=tcp://[::1]:80").target,
    { kind: "tcp", host: "::1", port: 80 },
    "IPv6 in brackets",
  );
  t.same(parseCheckFlag("web=http://127.0.0.1:8080/healthz?deep=1").target, {
    kind: "http",
    url: "http://127.0.0.1:8080/healthz?deep=1",
  });
  t.same(parseCheckFlag("web=https://example.test/health").target, {
    kind: "http",
    url: "https://example.test/health",
  });
  t.same(parseCheckFlag("web=http://h:80").target, { kind: "http", url: "http://h/" }, "normalized by URL");
  t.same(parseCheckFlag("up=grpc://127.0.0.1:50051/greet.GreetService").target, {
    kind: "grpc",
    address: "http://127.0.0.1:50051",
    service: "greet.GreetService",
  });
  t.same(parseCheckFlag("up=grpc://[::1]:50051").target, {
    kind: "grpc",
    address: "http://[::1]:50051",
    service: "",
  });
  t.same(parseCheckFlag("up=grpc://h:1/").target, { kind: "grpc", address: "http://h:1", service: "" });
  t.same(parseCheckFlag("up=grpc://h:1/a%2Fb").target, {
    kind: "grpc",
    address: "http://h:1",
    service: "a/b",
  });
  t.same(parseCheckFlag("f=exec:test -f /tmp/ready").target, {
    kind: "exec",
    argv: ["test", "-f", "/tmp/ready"],
  });
  t.same(
    parseCheckFlag("a=exec:test x=x"),
    { name: "a", url: "exec:test x=x", target: { kind: "exec", argv: ["/bin/sh", "-c", "test x=x"] } },
    "NAME ends at the first =",
  );
});

t.test("exec: a plain line is spawned as its words; shell syntax goes to /bin/sh -c", async (t) => {
  t.same(execArgv("  pg_isready  -h db.internal -p 5432 "), [
    "pg_isready",
    "-h",
    "db.internal",
    "-p",
    "5432",
  ]);
  t.same(execArgv("curl -fsS http://127.0.0.1:8080/health"), [
    "curl",
    "-fsS",
    "http://127.0.0.1:8080/health",
  ]);
  for (const line of [
    "test -f /tmp/ready && test -s /tmp/ready",
    "pgrep nginx | grep -q .",
    'test -f "$HOME/ready"',
    "test -f ~/ready",
    "READY=1 ./check",
    "test -f /tmp/*.ready",
    "check > /dev/null",
    "a; b",
    "echo 'x y'",
  ]) {
    t.same(execArgv(line), ["/bin/sh", "-c", line], line);
  }
});

t.test("usage errors name the flag and what is wrong", async (t) => {
  const cases: Array<[string, RegExp]> = [
    ["db", /invalid -check "db": want NAME=URL with URL one of tcp:\/\/host:port, .*exec:command/],
    ["=tcp://h:1", /missing NAME before "="/],
    ["my db=tcp://h:1", /NAME must be visible ASCII without spaces/],
    [`${"n".repeat(201)}=tcp://h:1`, /at most 200 characters/],
    ["db=ftp://h:21", /unknown scheme "ftp:\/\/" \(want tcp:\/\//],
    ["db=127.0.0.1:5432", /want a URL: tcp:\/\/host:port/],
    ["db=tcp://h", /missing port \(want host:port\)/],
    ["db=tcp://:5432", /missing host/],
    ["db=tcp://::1:5432", /put an IPv6 address in brackets/],
    ["db=tcp://h:0", /bad port "0" \(want 1-65535\)/],
    ["db=tcp://h:65536", /bad port "65536"/],
    ["db=tcp://h:54x", /bad port "54x"/],
    ["db=tcp://h:", /bad port ""/],
    ["db=tcp://bad_host!:1", /bad host "bad_host!"/],
    ["db=tcp://-h:1", /bad host "-h"/],
    ["db=tcp://h:1/path", /tcp:\/\/ takes host:port only/],
    ["db=tcp://u:p@h:1", /credentials in the URL are not supported/],
    ["web=http://h:99999/x", /bad port "99999"/],
    ["web=https:///x", /missing host/],
    ["up=grpc://h/svc", /missing port/],
    ["up=grpc://h:1/svc?x", /no query or fragment/],
    ["up=grpc://h:1/%zz", /not valid percent-encoding/],
    ["f=exec:", /exec: needs a command/],
    ["f=exec:   ", /exec: needs a command/],
  ];
  for (const [text, message] of cases) t.throws(() => parseCheckFlag(text), message, text);
  t.throws(() => parseCheckFlag("db"), FlagError, "a FlagError: exit code 1");
  t.throws(
    () => parseCheckFlags(["db=tcp://h:1", "web=exec:true", "db=tcp://h:2"]),
    /-check "db" is given twice/,
  );
  t.same(
    parseCheckFlags(["db=tcp://h:1", "web=exec:true"]).map((c) => c.name),
    ["db", "web"],
  );
});

t.test("probes are named after the service they drive", async (t) => {
  for (const text of ["a=tcp://h:1", "b=http://h:1/x", "c=exec:true", "d=grpc://127.0.0.1:1/x"]) {
    const check = parseCheckFlag(text);
    const probe = checkProbe(check);
    t.equal(probe.name, check.name, text);
    await probe.close?.();
  }
});
