// Failures whose wire words say little get a hint of what happened and what to do (package issue item 7).
import { readFileSync } from "node:fs";
import http2 from "node:http2";
import t from "tap";
import { startConnectPeer, testCerts } from "../client/fixtures/peers.ts";
import { startRawH1, startRawH2 } from "../client/fixtures/raw-server.ts";
import { runCli } from "../fixtures/run-cli.ts";
import { listenLocal } from "../fixtures/start-server.ts";

const fixture = (name: string) => readFileSync(new URL(`../client/fixtures/${name}`, import.meta.url));

t.test("gRPC to an HTTP/1.1-only server, a reset stream, plaintext to a TLS port", async (t) => {
  const h1 = await startRawH1();
  const h2 = await startRawH2();
  const tlsPeer = await startConnectPeer({ tls: {} });
  const tlsReset = http2.createSecureServer({ key: fixture("server-key.pem"), cert: fixture("server.pem") });
  tlsReset.on("stream", (stream) => stream.close(http2.constants.NGHTTP2_CANCEL));
  const tlsResetLocal = await listenLocal(tlsReset);
  t.teardown(async () => {
    await h1.close();
    await h2.close();
    await tlsPeer.close();
    await tlsResetLocal.close();
  });
  h2.handle("/grpc.health.v1.Health/Check", (stream) => stream.close(http2.constants.NGHTTP2_CANCEL));

  const http1Only = await runCli(["check", "-addr", h1.url.replace("http://", "")]);
  // The connect timeout covers the HTTP/2 handshake, so this is now a failed connection (exit 2).
  t.equal(http1Only.code, 2);
  t.match(
    http1Only.stderr,
    /failed to connect.*does not speak HTTP\/2 here: an HTTP\/1\.1-only server takes --protocol triple --http1; a TLS port takes -tls\)/,
  );
  const reset = await runCli(["check", "-addr", h2.url.replace("http://", "")]);
  t.equal(reset.code, 3);
  t.match(
    reset.stderr,
    /\[CANCELLED\].*reset the call or closed the connection: is it still up\?; a TLS port takes -tls\)/,
  );
  const plaintextToTls = await runCli(["check", "-addr", tlsPeer.addr]);
  t.not(plaintextToTls.code, 0);
  t.match(plaintextToTls.stderr, /-tls/, "plaintext to a TLS port: the hint names -tls");
  const port = tlsResetLocal.url.split(":").at(-1);
  const resetOverTls = await runCli([
    "check",
    "-addr",
    `localhost:${port}`,
    "-tls",
    "-tls-ca-cert",
    testCerts.caPath,
  ]);
  t.equal(resetOverTls.code, 3);
  t.match(resetOverTls.stderr, /is it still up\?\)\n$/, "with -tls, no -tls hint");
});
