import net from "node:net";
import t from "tap";
import { createCallClient, parseTarget } from "../../src/client/call-client.ts";
import { createHealthClient } from "../../src/client/health-client.ts";
import { connectFailureKind } from "../../src/client/transport-errors.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { Code } from "../../src/wire/code.ts";
import { ConfigError } from "../../src/wire/config-error.ts";
import { RpcError } from "../../src/wire/rpc-error.ts";
import { type LocalServer, listenLocal, unusedPort } from "../fixtures/start-server.ts";
import { startConnectPeer, testCerts } from "./fixtures/peers.ts";

t.test("parseTarget", async (t) => {
  t.equal(parseTarget("127.0.0.1:20000").href, "http://127.0.0.1:20000/");
  t.equal(parseTarget("tri://127.0.0.1:20000").href, "http://127.0.0.1:20000/");
  t.equal(parseTarget("https://health.test:443").protocol, "https:");
  t.equal(parseTarget("http://[::1]:8080/prefix/").pathname, "/prefix/");
  t.throws(() => parseTarget("ftp://x:1"), ConfigError);
  t.throws(() => parseTarget("http://"), ConfigError);
  t.throws(() => parseTarget("http://a b"), ConfigError);
});

t.test("option validation", async (t) => {
  t.throws(() => createCallClient("127.0.0.1:1", { protocol: "grpc", httpVersion: "1.1" }), {
    name: "ConfigError",
    message: /gRPC needs HTTP\/2/,
  });
  t.throws(() => createCallClient("127.0.0.1:1", { protocol: "soap" as never }), ConfigError);
  t.throws(() => createCallClient("127.0.0.1:1", { codec: "xml" as never }), ConfigError);
  t.throws(() => createCallClient("127.0.0.1:1", { httpVersion: "3" as never }), ConfigError);
  const client = createCallClient("tri://127.0.0.1:1");
  t.equal(client.protocol, "grpc");
  t.equal(client.codec, "proto");
  t.equal(client.httpVersion, "2");
  await client.close();
});

/** A TCP server that accepts and never speaks: a TLS handshake against it hangs. */
function silentServer(): Promise<LocalServer> {
  return listenLocal(net.createServer((socket) => socket.on("error", () => {})));
}

for (const httpVersion of ["2", "1.1"] as const) {
  t.test(`connection failures over HTTP/${httpVersion}`, async (t) => {
    const port = await unusedPort();
    const client = createHealthClient(`http://127.0.0.1:${port}`, { protocol: "triple", httpVersion });
    const refused = await client.connect().catch((e: unknown) => e);
    t.ok(refused instanceof RpcError);
    t.equal((refused as RpcError).code, Code.Unavailable);
    t.equal(connectFailureKind(refused), "error", "marked as a connection failure");
    const fromCall = await client.check().catch((e: unknown) => e);
    t.equal((fromCall as RpcError).code, Code.Unavailable, "a call on a refused connection: UNAVAILABLE");
    t.equal(connectFailureKind(fromCall), "error");
    await client.close();

    const silent = await silentServer();
    t.teardown(() => silent.close());
    const slow = createHealthClient(`https://127.0.0.1:${silent.port}`, {
      protocol: "triple",
      httpVersion,
      connectTimeoutMs: 100,
    });
    const timedOut = await slow.connect().catch((e: unknown) => e);
    t.equal(connectFailureKind(timedOut), "timeout", "connect timeout");
    await t.rejects(slow.connect({ signal: AbortSignal.abort() }), { code: Code.Canceled });
    await slow.close();
    t.equal(connectFailureKind(new Error("x")), undefined);
    t.equal(connectFailureKind(undefined), undefined);
  });
}

t.test("TLS: CA, server name, skip-verify, client certificates", async (t) => {
  const peer = await startConnectPeer({ tls: {}, initial: { a: "SERVING" } });
  const mutual = await startConnectPeer({ tls: { requireClientCert: true }, initial: { a: "SERVING" } });
  t.teardown(async () => {
    await peer.close();
    await mutual.close();
  });
  for (const httpVersion of ["2", "1.1"] as const) {
    const options = { protocol: "triple", httpVersion } as const;
    const trusted = createHealthClient(peer.url, { ...options, tls: { ca: testCerts.ca } });
    t.equal(await trusted.check("a"), ServingStatus.Serving, `HTTP/${httpVersion} with the CA`);
    await trusted.close();

    const named = createHealthClient(peer.url, {
      ...options,
      tls: { ca: testCerts.ca, servername: "health.test" },
    });
    t.equal(await named.check("a"), ServingStatus.Serving, `HTTP/${httpVersion} with a server name`);
    await named.close();

    const untrusted = createHealthClient(peer.url, options);
    const error = await untrusted.check("a").catch((e: unknown) => e);
    t.equal(connectFailureKind(error), "error", `HTTP/${httpVersion} without the CA: connection failure`);
    await untrusted.close();

    const skip = createHealthClient(peer.url, { ...options, tls: { insecureSkipVerify: true } });
    t.equal(await skip.check("a"), ServingStatus.Serving, `HTTP/${httpVersion} skip-verify`);
    await skip.close();

    const withCert = createHealthClient(mutual.url, {
      ...options,
      tls: { ca: testCerts.ca, cert: testCerts.clientCert, key: testCerts.clientKey },
    });
    t.equal(await withCert.check("a"), ServingStatus.Serving, `HTTP/${httpVersion} mutual TLS`);
    await withCert.close();
  }
  // gRPC over TLS (ALPN h2), with an http:// URL turned to TLS by the option.
  const grpc = createHealthClient(peer.url.replace("https:", "http:"), { tls: { ca: testCerts.ca } });
  t.equal(await grpc.check("a"), ServingStatus.Serving, "gRPC over TLS");
  await grpc.close();
});
