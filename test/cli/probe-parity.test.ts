// `triple-health check` beside grpc_health_probe, case by case: every flag of its current release (v0.4.56,
// main.go at grpc-ecosystem/grpc-health-probe@b5fef77) with its meaning, its exit codes and the words it prints.
// Each row cites the line of main.go (or README.md) it is read from. Where we differ on purpose, the row says so.
// Known differences, by design: "status: SERVING" goes to stdout here (grpc_health_probe logs it to stderr with
// the rest); -alts and -spiffe are refused with exit 1 (not supported) instead of dialing with them; a bare host
// without a port fails at once with exit 2 instead of after -connect-timeout (grpc-go's dialer: "missing port").
import http2 from "node:http2";
import { gunzipSync } from "node:zlib";
import t from "tap";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { runCli } from "../fixtures/run-cli.ts";
import { startServer, unusedPort } from "../fixtures/start-server.ts";

interface Row {
  /** Where grpc_health_probe says it. */
  source: string;
  args: (addr: string, closed: string) => string[];
  code: number;
  stdout?: RegExp | string;
  stderr?: RegExp;
}

const rows: Record<string, Row> = {
  // main.go:79 -addr (required) / :114-115 "-addr not specified", exit 1 (StatusInvalidArguments, :63-64).
  "no -addr": {
    source: "main.go:114",
    args: () => ["check"],
    code: 1,
    stderr: /^error: -addr not specified\n$/,
  },
  // main.go:99-101 a flag the FlagSet does not define: Go's "flag provided but not defined", exit 1.
  "unknown flag": {
    source: "main.go:99",
    args: (a) => ["check", "-addr", a, "-nope"],
    code: 1,
    stderr: /flag provided but not defined: -nope/,
  },
  // main.go:117-121 timeouts must be > 0.
  "-connect-timeout 0": {
    source: "main.go:117",
    args: (a) => ["check", "-addr", a, "-connect-timeout", "0"],
    code: 1,
    stderr: /^error: -connect-timeout must be greater than zero \(specified: 0ms\)\n$/,
  },
  "-rpc-timeout 0": {
    source: "main.go:120",
    args: (a) => ["check", "-addr", a, "-rpc-timeout", "0"],
    code: 1,
    stderr: /^error: -rpc-timeout must be greater than zero/,
  },
  // main.go:123-127 -alts with -spiffe, -tls with -alts.
  "-alts -spiffe": {
    source: "main.go:123",
    args: (a) => ["check", "-addr", a, "-alts", "-spiffe"],
    code: 1,
    stderr: /^error: -alts and -spiffe are mutually incompatible\n$/,
  },
  "-tls -alts": {
    source: "main.go:126",
    args: (a) => ["check", "-addr", a, "-tls", "-alts"],
    code: 1,
    stderr: /^error: cannot specify -tls with -alts\n$/,
  },
  // main.go:263-265 -tls with -spiffe.
  "-tls -spiffe": {
    source: "main.go:263",
    args: (a) => ["check", "-addr", a, "-tls", "-spiffe"],
    code: 1,
    stderr: /-tls and -spiffe are mutually incompatible/,
  },
  // main.go:93 -alts, :97 -spiffe: accepted there; not supported here (exit 1, the reason, what to use).
  "-alts (not supported)": {
    source: "main.go:93",
    args: (a) => ["check", "-addr", a, "-alts"],
    code: 1,
    stderr: /^error: -alts is not supported by triple-health .*use -tls\n$/,
  },
  "-spiffe (not supported)": {
    source: "main.go:97",
    args: (a) => ["check", "-addr", a, "-spiffe"],
    code: 1,
    stderr: /^error: -spiffe is not supported by triple-health .*use -tls/,
  },
  // main.go:129-151 the TLS flag combinations.
  "-tls-no-verify without -tls": {
    source: "main.go:129",
    args: (a) => ["check", "-addr", a, "-tls-no-verify"],
    code: 1,
    stderr: /^error: specified -tls-no-verify without specifying -tls\n$/,
  },
  "-tls-ca-cert without -tls": {
    source: "main.go:132",
    args: (a) => ["check", "-addr", a, "-tls-ca-cert", "ca.pem"],
    code: 1,
    stderr: /^error: specified -tls-ca-cert without specifying -tls\n$/,
  },
  "-tls-client-cert without -tls": {
    source: "main.go:135",
    args: (a) => ["check", "-addr", a, "-tls-client-cert", "c.pem", "-tls-client-key", "k.pem"],
    code: 1,
    stderr: /^error: specified -tls-client-cert without specifying -tls\n$/,
  },
  "-tls-server-name without -tls": {
    source: "main.go:138",
    args: (a) => ["check", "-addr", a, "-tls-server-name", "x"],
    code: 1,
    stderr: /^error: specified -tls-server-name without specifying -tls\n$/,
  },
  "-tls-client-cert without -tls-client-key": {
    source: "main.go:141",
    args: (a) => ["check", "-addr", a, "-tls", "-tls-client-cert", "c.pem"],
    code: 1,
    stderr: /^error: specified -tls-client-cert without specifying -tls-client-key\n$/,
  },
  "-tls-client-key without -tls-client-cert": {
    source: "main.go:144",
    args: (a) => ["check", "-addr", a, "-tls", "-tls-client-key", "k.pem"],
    code: 1,
    stderr: /^error: specified -tls-client-key without specifying -tls-client-cert\n$/,
  },
  "-tls-no-verify with -tls-ca-cert": {
    source: "main.go:147",
    args: (a) => ["check", "-addr", a, "-tls", "-tls-no-verify", "-tls-ca-cert", "ca.pem"],
    code: 1,
    stderr: /^error: cannot specify -tls-ca-cert with -tls-no-verify \(CA cert would not be used\)\n$/,
  },
  "-tls-no-verify with -tls-server-name": {
    source: "main.go:150",
    args: (a) => ["check", "-addr", a, "-tls", "-tls-no-verify", "-tls-server-name", "x"],
    code: 1,
    stderr: /^error: cannot specify -tls-server-name with -tls-no-verify/,
  },
  // main.go:268-272 credentials that cannot be loaded: "failed to initialize tls credentials", exit 1.
  "-tls-ca-cert missing file": {
    source: "main.go:271",
    args: (a) => ["check", "-addr", a, "-tls", "-tls-ca-cert", "/no/such/ca.pem"],
    code: 1,
    stderr: /failed to initialize tls credentials\. error=/,
  },
  // main.go:95 / :109-111 -version prints the version and exits 0.
  "-version": { source: "main.go:109", args: () => ["check", "-version"], code: 0, stdout: /^\d+\.\d+\.\d+/ },
  // main.go:309-320 connection failure: exit 2 (StatusConnectionFailure, :65-66), "failed to connect service at".
  "closed port": {
    source: "main.go:318",
    args: (_a, closed) => ["check", "-addr", closed],
    code: 2,
    stderr: /^error: failed to connect service at "127\.0\.0\.1:\d+": .*ECONNREFUSED/,
  },
  // grpc-go's dialer fails a bare host with "missing port in address" until the connect timeout (exit 2).
  "bare host, no port": {
    source: "main.go:312 (grpc.DialContext)",
    args: () => ["check", "-addr", "localhost"],
    code: 2,
    stderr: /^error: failed to connect service at "localhost": missing port in address/,
  },
  // main.go:336-344 the RPC failed: exit 3 (StatusRPCFailure, :67-68), "health rpc failed".
  "unknown service (NOT_FOUND)": {
    source: "main.go:342",
    args: (a) => ["check", "-addr", a, "-service", "no.Such"],
    code: 3,
    stderr: /^error: health rpc failed: \[NOT_FOUND\]/,
  },
  // main.go:349-351 not SERVING: exit 4 (StatusUnhealthy, :69-70), `service unhealthy (responded with "…")`.
  NOT_SERVING: {
    source: "main.go:350",
    args: (a) => ["check", "-addr", a, "-service", "down.Service"],
    code: 4,
    stderr: /^service unhealthy \(responded with "NOT_SERVING"\)\n$/,
  },
  // main.go:357 "status: SERVING", exit 0 (stdout here; see the file comment).
  SERVING: {
    source: "main.go:357",
    args: (a) => ["check", "-addr", a],
    code: 0,
    stdout: "status: SERVING\n",
  },
  // main.go:80 -service, :81 -user-agent, :84 -rpc-header (repeatable 'name: value'), :94 -v.
  "-service -user-agent -rpc-header -v": {
    source: "main.go:80-94",
    args: (a) => [
      "check",
      "-addr",
      a,
      "-service",
      "up.Service",
      "-user-agent",
      "probe/1",
      "-rpc-header",
      "x-a: 1",
      "-rpc-header",
      "x-b: 2",
      "-v",
    ],
    code: 0,
    // main.go:155-156 and :326, :355 the verbose lines.
    stderr:
      /parsed options:\n> addr=127\.0\.0\.1:\d+ conn_timeout=1s rpc_timeout=1s[\s\S]*establishing connection\n[\s\S]*connection established \(took/,
  },
  // README.md "-gzip": accepted, the request compressed (see the test below for the bytes).
  "-gzip": {
    source: "main.go:96",
    args: (a) => ["check", "-addr", a, "-gzip"],
    code: 0,
    stdout: "status: SERVING\n",
  },
};

t.test("grpc_health_probe's cases, row by row", async (t) => {
  const { server, port } = await startServer(t);
  server.health.set("down.Service", ServingStatus.NotServing);
  server.health.set("up.Service", ServingStatus.Serving);
  const addr = `127.0.0.1:${port}`;
  const closed = `127.0.0.1:${await unusedPort()}`;
  for (const [name, row] of Object.entries(rows)) {
    const run = await runCli(row.args(addr, closed));
    t.equal(run.code, row.code, `${name} (${row.source}): exit ${row.code}`, { stderr: run.stderr });
    if (row.stderr !== undefined) t.match(run.stderr, row.stderr, `${name}: stderr`);
    if (typeof row.stdout === "string") t.equal(run.stdout, row.stdout, `${name}: stdout`);
    else if (row.stdout !== undefined) t.match(run.stdout, row.stdout, `${name}: stdout`);
  }
});

t.test(
  "-gzip sends the request gzip-compressed (grpc-encoding: gzip, the envelope's flag set)",
  async (t) => {
    const seen: { encoding?: string; flag?: number; payload?: Buffer } = {};
    const server = http2.createServer();
    server.on("stream", (stream, headers) => {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        const body = Buffer.concat(chunks);
        seen.encoding = String(headers["grpc-encoding"]);
        seen.flag = body[0];
        seen.payload = gunzipSync(body.subarray(5, 5 + body.readUInt32BE(1)));
        stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
        // HealthCheckResponse{status: SERVING}: field 1, varint 1.
        stream.end(Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    t.teardown(() => server.close());
    const { port } = server.address() as { port: number };
    const run = await runCli(["check", "-addr", `127.0.0.1:${port}`, "-service", "a.B", "-gzip"]);
    t.equal(run.code, 0, "SERVING", { stderr: run.stderr });
    t.equal(seen.encoding, "gzip", "grpc-encoding: gzip");
    t.equal(seen.flag, 1, "compressed flag");
    // HealthCheckRequest{service: "a.B"}: field 1, length 3.
    t.same([...(seen.payload ?? [])], [0x0a, 3, 0x61, 0x2e, 0x42], "the request, once gunzipped");
  },
);
