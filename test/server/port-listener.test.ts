import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http2 from "node:http2";
import https from "node:https";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type tls from "node:tls";
import t from "tap";
import { http2Preface } from "../../src/server/port-listener.ts";
import { grpcHeaders, h2request } from "../fixtures/h2-request.ts";
import { checkRequestBytes, envelope, h1request, startProbeServer } from "./fixtures/helpers.ts";

const { server, url, port } = await startProbeServer(t, { http1: { headersTimeout: 300 } }, { graceMs: 100 });

const check = envelope(checkRequestBytes(""));

/** Raw bytes in, raw bytes out, until the server closes or `ms` passes. */
function rawExchange(chunks: Buffer[], ms = 2000, gapMs = 0): Promise<{ data: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    const received: Buffer[] = [];
    let closed = false;
    const timer = setTimeout(() => {
      socket.destroy();
    }, ms);
    socket.on("data", (chunk) => received.push(chunk));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(received), closed });
    });
    socket.on("end", () => {
      closed = true;
    });
    socket.on("connect", async () => {
      for (const chunk of chunks) {
        socket.write(chunk);
        if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
      }
    });
  });
}

t.test("one port: HTTP/1.1 and h2c with prior knowledge", async (t) => {
  const h1 = await h1request(`${url}/grpc.health.v1.Health/Check`, {
    headers: { "content-type": "application/json" },
    body: "{}",
  });
  t.equal(h1.body.toString(), '{"status":"SERVING"}');
  const h2 = await h2request(url, grpcHeaders("/grpc.health.v1.Health/Check"), check);
  t.equal(h2.body.toString("hex"), "00000000020801");
});

t.test("the HTTP/2 preface split over several writes is still recognized", async (t) => {
  t.equal(http2Preface.toString("latin1"), "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  // Preface in three pieces, then an empty SETTINGS frame: the server answers with its SETTINGS.
  const settings = Buffer.from("000000040000000000", "hex");
  const { data } = await rawExchange(
    [http2Preface.subarray(0, 3), http2Preface.subarray(3, 20), http2Preface.subarray(20), settings],
    500,
    20,
  );
  t.ok(data.length >= 9, "got frames back");
  t.equal(data[3], 0x04, "the first frame is SETTINGS");
});

t.test("HTTP/1.1 keep-alive: several requests on one connection", async (t) => {
  const body = '{"service":""}';
  const request = `POST /grpc.health.v1.Health/Check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const { data } = await rawExchange([Buffer.from(request + request)], 400);
  t.equal(data.toString().match(/HTTP\/1\.1 200 OK/g)?.length, 2);
});

t.test("garbage first bytes: 400 and closed", async (t) => {
  const { data, closed } = await rawExchange([Buffer.from("\x16\x03\x01garbage garbage\r\n\r\n")], 2000);
  t.match(data.toString(), /^HTTP\/1\.1 400/);
  t.ok(closed);
});

t.test("a silent connection is closed by the headers timeout; a slowloris head too", async (t) => {
  const silent = await rawExchange([], 3000);
  t.equal(silent.data.length, 0);
  const started = Date.now();
  const slow = await rawExchange(
    [..."POST /grpc.health.v1.Health/Check HTTP/1.1\r\nHost: x\r\n"].map((c) => Buffer.from(c)),
    5000,
    40,
  );
  t.ok(Date.now() - started < 4900, "closed by the server, not the test");
  t.match(slow.data.toString(), /^(HTTP\/1\.1 408|)/);
});

t.test("HTTP/2 preface followed by garbage frames: GOAWAY", async (t) => {
  const { data } = await rawExchange(
    [http2Preface, Buffer.from("ffffffffffffffffffffffffffff", "hex")],
    1000,
  );
  // Somewhere in the answer a GOAWAY (type 0x07) frame.
  let at = 0;
  let goaway = false;
  while (at + 9 <= data.length) {
    const length = data.readUIntBE(at, 3);
    if (data[at + 3] === 0x07) goaway = true;
    at += 9 + length;
  }
  t.ok(goaway);
});

t.test("TLS with ALPN h2 and http/1.1", { skip: !hasOpenssl() && "openssl not installed" }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "triple-health-tls-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
    ],
    { stdio: "ignore" },
  );
  const key = readFileSync(join(dir, "key.pem"));
  const cert = readFileSync(join(dir, "cert.pem"));
  const tlsServer = await startProbeServer(t, { tls: { key, cert } }, { graceMs: 100 });
  const origin = `https://127.0.0.1:${tlsServer.port}`;

  const session = http2.connect(origin, { ca: cert });
  t.teardown(() => session.close());
  const h2 = await h2request(session, grpcHeaders("/grpc.health.v1.Health/Check"), check);
  t.equal(h2.body.toString("hex"), "00000000020801");
  t.equal((session.socket as tls.TLSSocket).alpnProtocol, "h2");

  const h1 = await new Promise<{ status: number; body: string; alpn: string | false }>((resolve, reject) => {
    const req = https.request(
      `${origin}/grpc.health.v1.Health/Check`,
      {
        method: "POST",
        ca: cert,
        headers: { "content-type": "application/json" },
        agent: false,
        ALPNProtocols: ["http/1.1"],
      } as https.RequestOptions,
      (res) => {
        let body = "";
        res.on("data", (c) => {
          body += c;
        });
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            body,
            alpn: (res.socket as tls.TLSSocket).alpnProtocol ?? false,
          }),
        );
      },
    );
    req.on("error", reject);
    req.end("{}");
  });
  t.same(h1, { status: 200, body: '{"status":"SERVING"}', alpn: "http/1.1" });
  await tlsServer.server.close({ graceMs: 100 });
});

t.test("listen errors: a port in use rejects; listening twice throws", async (t) => {
  const { createTripleServer } = await import("../../src/host/triple-server.ts");
  const other = createTripleServer();
  await t.rejects(other.listen(port, "127.0.0.1"), { code: "EADDRINUSE" });
  await t.rejects(server.listen(0), /already listening/);
  await other.close();
  await t.rejects(other.listen(0), /closed/);
});

function hasOpenssl(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
