// Hardening II item 10: error messages that quote peer input are clipped. A 60 KB grpc-encoding or
// grpc-timeout value used to come back whole in grpc-message (0xFF bytes six times larger once
// percent-encoded); at 12 KB of 0xFF the answer no longer fit the peer's header limit and the call got no
// status at all, the connection a GOAWAY.
import t from "tap";
import { Code } from "../../src/wire/code.ts";
import { maxQuotedPeerText, quotePeerText } from "../../src/wire/peer-text.ts";
import { grpcHeaders, h2once } from "../fixtures/h2-request.ts";
import { startServer } from "../fixtures/start-server.ts";
import { checkPath, checkRequest, envelope, grpcCheck, h1request } from "./fixtures/attack.ts";

// The most a clipped quote can take in grpc-message: 128 characters percent-encoded at 6 bytes each, plus
// the message around it.
const maxMessageBytes = maxQuotedPeerText * 6 + 256;

t.test("quotePeerText clips long input and says how long it was", async (t) => {
  t.equal(quotePeerText("gzip"), '"gzip"');
  const long = quotePeerText("x".repeat(60_000));
  t.ok(long.length < maxQuotedPeerText + 40, "clipped");
  t.match(long, /… \(60000 characters\)$/);
});

t.test("gRPC: long grpc-encoding / grpc-timeout / metadata values come back clipped", async (t) => {
  const { port } = await startServer(t);
  const latin1Ff = "\u00ff".repeat(12 * 1024);
  const cases: Array<[string, Record<string, string>, number]> = [
    ["grpc-encoding 60 KB", { "grpc-encoding": "b".repeat(60_000) }, Code.Unimplemented],
    ["grpc-encoding 12 KB of 0xFF", { "grpc-encoding": latin1Ff }, Code.Unimplemented],
    ["grpc-timeout 60 KB", { "grpc-timeout": "9".repeat(60_000) }, Code.Internal],
    ["grpc-timeout 12 KB of 0xFF", { "grpc-timeout": latin1Ff }, Code.Internal],
    [
      `a -bin value that is not base64 under a 4 KB name`,
      { [`${"k".repeat(4000)}-bin`]: "***" },
      Code.Internal,
    ],
  ];
  for (const [what, extra, code] of cases) {
    const result = await h2once(port, grpcHeaders(checkPath, extra), {
      body: [envelope(0, checkRequest(""))],
    });
    t.equal(result.grpcStatus, code, `${what}: a status arrives (${code})`);
    const sent = Buffer.byteLength(
      String(result.trailers?.["grpc-message"] ?? result.headers["grpc-message"]),
    );
    t.ok(sent <= maxMessageBytes, `${what}: grpc-message is ${sent} bytes (at most ${maxMessageBytes})`);
  }
  t.equal(await grpcCheck(port), 1, "a Check still answers SERVING");
});

t.test("triple over HTTP/1.1: a long Triple-Timeout-Ms comes back clipped in the JSON error", async (t) => {
  const { port } = await startServer(t);
  const response = await h1request(port, {
    method: "POST",
    path: checkPath,
    headers: { "content-type": "application/json", "triple-timeout-ms": "1".repeat(10_000) },
    body: Buffer.from("{}"),
  });
  t.equal(response.status, 400, "invalid_argument");
  t.ok(response.body.length <= maxMessageBytes, `error body is ${response.body.length} bytes`);
  t.match(response.json, { code: "invalid_argument", message: /characters\)/ });
  const version = await h1request(port, {
    method: "POST",
    path: checkPath,
    headers: { "content-type": "application/json", "triple-protocol-version": "9".repeat(10_000) },
    body: Buffer.from("{}"),
  });
  t.equal(version.status, 400, "a long Triple-Protocol-Version: invalid_argument");
  t.ok(version.body.length <= maxMessageBytes, `its error body is ${version.body.length} bytes`);
  t.equal(await grpcCheck(port), 1, "a Check still answers SERVING");
});
