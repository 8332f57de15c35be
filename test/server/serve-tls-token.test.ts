// `triple-health serve -admin-token` ($TRIPLE_HEALTH_ADMIN_TOKEN, the admin commands' own token mechanism) and
// `-tls-cert`/`-tls-key`/`-tls-ca`: a real child process, real requests over TLS with the test certificates.
import { readFileSync } from "node:fs";
import http2 from "node:http2";
import https from "node:https";
import t from "tap";
import { parseServeArgs } from "../../src/cli/commands/serve.ts";
import { run as status } from "../../src/cli/commands/status.ts";
import { runNode } from "../fixtures/node-process.ts";
import { captureIo, spawnCli, startCli } from "../fixtures/run-cli.ts";

const fixturePath = (name: string) => new URL(`../client/fixtures/${name}`, import.meta.url).pathname;
const pem = (name: string) => readFileSync(fixturePath(name));
const cert = fixturePath("server.pem");
const key = fixturePath("server-key.pem");
const ca = fixturePath("ca.pem");

function httpsRequest(
  port: number,
  path: string,
  options: { method?: string; token?: string; body?: string } = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const request = https.request({
      host: "127.0.0.1",
      port,
      path,
      method: options.method ?? "GET",
      ca: pem("ca.pem"),
      agent: false,
      headers: {
        host: "localhost",
        ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
        ...(options.body === undefined ? {} : { "content-type": "application/json" }),
      },
    });
    request.on("error", reject);
    request.on("response", (response) => {
      const parts: Buffer[] = [];
      response.on("data", (chunk: Buffer) => parts.push(chunk));
      response.on("end", () =>
        resolve({ status: response.statusCode ?? 0, json: JSON.parse(Buffer.concat(parts).toString()) }),
      );
    });
    request.end(options.body);
  });
}

/** A triple JSON Check over HTTP/2 + TLS: the status name. */
async function tlsCheck(port: number, tls: { cert?: Buffer; key?: Buffer } = {}): Promise<string> {
  const session = http2.connect(`https://127.0.0.1:${port}`, { ca: pem("ca.pem"), ...tls });
  try {
    return await new Promise((resolve, reject) => {
      session.on("error", reject);
      const stream = session.request({
        ":method": "POST",
        ":path": "/grpc.health.v1.Health/Check",
        "content-type": "application/json",
      });
      stream.on("error", reject);
      const parts: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => parts.push(chunk));
      stream.on("end", () => resolve(JSON.parse(Buffer.concat(parts).toString()).status as string));
      stream.end("{}");
    });
  } finally {
    session.destroy();
  }
}

t.test("flags: the token and the key material, and their usage errors", async (t) => {
  t.equal(
    parseServeArgs(["--admin", "--admin-token", "f"], { TRIPLE_HEALTH_ADMIN_TOKEN: "e" }).adminToken,
    "f",
  );
  t.equal(parseServeArgs(["--admin"], { TRIPLE_HEALTH_ADMIN_TOKEN: "e" }).adminToken, "e", "env");
  t.equal(
    parseServeArgs(["--admin"], { TRIPLE_HEALTH_ADMIN_TOKEN: "" }).adminToken,
    undefined,
    "empty: none",
  );
  t.equal(parseServeArgs([], { TRIPLE_HEALTH_ADMIN_TOKEN: "e" }).adminToken, undefined, "no admin, no token");
  const tls = parseServeArgs(["--tls-cert", cert, "--tls-key", key], {}).tls;
  t.same(tls, { cert: pem("server.pem"), key: pem("server-key.pem") });
  t.match(parseServeArgs(["-tls-cert", cert, "-tls-key", key, "-tls-ca", ca], {}).tls, {
    ca: pem("ca.pem"),
    requestCert: true,
    rejectUnauthorized: true,
  });
  for (const [args, message] of [
    [["--admin-token", "x"], /-admin-token needs -admin/],
    [["--tls-cert", cert], /-tls-cert needs -tls-key/],
    [["--tls-key", key], /-tls-key needs -tls-cert/],
    [["--tls-ca", ca], /-tls-ca needs -tls-cert and -tls-key/],
    [["--tls-cert", "/no/such.pem", "--tls-key", key], /cannot read -tls-cert "\/no\/such.pem"/],
    [
      ["--tls-cert", cert, "--tls-key", fixturePath("client-key.pem")],
      /invalid -tls-cert\/-tls-key\/-tls-ca/,
    ],
  ] as const) {
    t.throws(() => parseServeArgs([...args], {}), message, args.join(" "));
  }
  const help = await spawnCli(["serve", "-h"]);
  t.match(
    help.stdout + help.stderr,
    /-admin-token token[\s\S]*-tls-cert FILE[\s\S]*-tls-key FILE[\s\S]*-tls-ca FILE/,
  );
});

t.test(
  "serve over TLS with an admin token: the flag's token, not the env's, opens the admin surface",
  async (t) => {
    const child = startCli(
      t,
      [
        "serve",
        "--sample",
        "--admin",
        "--port",
        "0",
        "--admin-token",
        "flag-token",
        "--tls-cert",
        cert,
        "--tls-key",
        key,
      ],
      { env: { ...process.env, TRIPLE_HEALTH_ADMIN_TOKEN: "env-token" } },
    );
    const line = await child.line(
      /on https:\/\/127\.0\.0\.1:(\d+) \(TLS: h2, HTTP\/1\.1\) \(admin token required\)$/,
    );
    const port = Number(line[1]);
    t.notMatch(child.stdout, /flag-token/, "the token is never printed");

    const probe = await spawnCli(["check", "-tls", "-tls-ca-cert", ca, "-addr", `127.0.0.1:${port}`]);
    t.equal(probe.code, 0, "check -tls against it: exit 0");
    t.equal(probe.stdout, "status: SERVING\n");

    const admin = await runNode(["src/cli/main.ts", "status", "-addr", `https://localhost:${port}`], {
      env: { ...process.env, TRIPLE_HEALTH_ADMIN_TOKEN: "flag-token", NODE_EXTRA_CA_CERTS: ca },
    });
    t.same(
      [admin.code, admin.stderr],
      [0, ""],
      "the status command over https with the token in the env: exit 0",
    );
    t.match(admin.stdout, /^draining: false$/m);
    t.equal((await httpsRequest(port, "/admin/health")).status, 401, "HTTPS, no token: 401");
    t.equal(
      (await httpsRequest(port, "/admin/health", { token: "env-token" })).status,
      401,
      "the env's: 401",
    );
    const health = await httpsRequest(port, "/admin/health", { token: "flag-token" });
    t.equal(health.status, 200, "the flag's token: 200");
    t.equal(health.json.draining, false);
    const drained = await httpsRequest(port, "/admin/drain", {
      method: "POST",
      token: "flag-token",
      body: "{}",
    });
    t.same([drained.status, drained.json], [200, { draining: true }], "POST /admin/drain over TLS");
    t.equal(await tlsCheck(port), "NOT_SERVING", "an HTTP/2 Check over TLS sees the drain");
    t.equal(await child.stop("SIGTERM"), 0);
  },
);

t.test("serve -tls-ca: mutual TLS; a client without a certificate is refused", async (t) => {
  const child = startCli(t, ["serve", "--port", "0", "--tls-cert", cert, "--tls-key", key, "--tls-ca", ca]);
  const port = Number((await child.line(/on https:\/\/127\.0\.0\.1:(\d+) \(TLS/))[1]);
  t.equal(await tlsCheck(port, { cert: pem("client.pem"), key: pem("client-key.pem") }), "SERVING");
  await t.rejects(tlsCheck(port), "no client certificate: the handshake fails");
  const probe = await spawnCli([
    "check",
    "-tls",
    "-tls-ca-cert",
    ca,
    "-tls-client-cert",
    fixturePath("client.pem"),
    "-tls-client-key",
    fixturePath("client-key.pem"),
    "-addr",
    `127.0.0.1:${port}`,
  ]);
  t.same([probe.code, probe.stdout], [0, "status: SERVING\n"], "check with a client certificate");
  t.equal(await child.stop("SIGTERM"), 0);
});

t.test("$TRIPLE_HEALTH_ADMIN_TOKEN: one variable for serve and the admin commands", async (t) => {
  const env = { ...process.env, TRIPLE_HEALTH_ADMIN_TOKEN: "shared" };
  const child = startCli(t, ["serve", "--admin", "--port", "0"], { env });
  const port = Number((await child.line(/on http:\/\/127\.0\.0\.1:(\d+) .*\(admin token required\)$/))[1]);
  const withToken = captureIo({ TRIPLE_HEALTH_ADMIN_TOKEN: "shared" });
  t.equal(await status(["--addr", `127.0.0.1:${port}`], withToken.io), 0, "status with the same variable: 0");
  t.match(withToken.out, /^draining: false$/m);
  const without = captureIo({});
  t.equal(await status(["--addr", `127.0.0.1:${port}`], without.io), 3, "without it: refused (exit 3)");
  t.match(without.err, /answered 401/);
  t.equal(await child.stop("SIGTERM"), 0);
});
