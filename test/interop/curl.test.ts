// curl as the peer: the seed's exact HTTP/1.1 JSON request, and gRPC over h2c prior knowledge with a
// hand-made envelope (what grpcurl-less operators do).
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t, { type Test } from "tap";
import { startConnectReference, startGrpcJsReference } from "../fixtures/interop-reference.ts";
import { startTarget } from "../fixtures/interop-target.ts";
import { needs } from "../fixtures/tools.ts";

function curl(args: string[]): Promise<{ stdout: Buffer; stderr: string; code: number }> {
  return new Promise((resolve) => {
    execFile("curl", args, { encoding: "buffer", timeout: 10_000 }, (error, stdout, stderr) =>
      resolve({ stdout, stderr: stderr.toString(), code: typeof error?.code === "number" ? error.code : 0 }),
    );
  });
}

/** A scratch folder for request bodies and header dumps, removed with the test. */
function scratch(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), "interop-curl-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A gRPC message: flags 0, 4-byte big-endian length, payload. */
function envelope(payload: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

/** `HealthCheckRequest{service}` in the proto wire format (field 1, length-delimited). */
function checkRequest(service: string): Buffer {
  const name = Buffer.from(service);
  return Buffer.concat([Buffer.from([0x0a, name.length]), name]);
}

/**
 * Reads a `curl -D` dump: blocks separated by an empty line, the first one the response headers, the
 * next (HTTP/2 only) the trailers — curl writes both there.
 */
function parseDump(text: string): {
  status: number;
  headers: Map<string, string>;
  trailers: Map<string, string>;
} {
  const [head = "", ...rest] = text.split(/\r?\n\r?\n/);
  const [statusLine = "", ...headerLines] = head.split(/\r?\n/);
  const toMap = (lines: string[]) =>
    new Map(
      lines
        .filter((line) => line.includes(":"))
        .map((line) => {
          const colon = line.indexOf(":");
          return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()] as const;
        }),
    );
  return {
    status: Number(statusLine.split(" ")[1]),
    headers: toMap(headerLines),
    trailers: toMap(rest.join("\n").split(/\r?\n/)),
  };
}

t.test('the seed\'s request answers exactly {"status":"SERVING"}', needs("curl"), async (t) => {
  const target = await startTarget(t, startConnectReference);
  const url = `${target.url("1.1")}/grpc.health.v1.Health/Check`;
  // Word for word the seed's command line.
  const seed = [
    "-sS",
    "-X",
    "POST",
    url,
    "-H",
    "Content-Type: application/json",
    "-d",
    '{"service":"greet.GreetService"}',
  ];
  const result = await curl(seed);
  t.equal(result.stderr, "", "curl reports no error");
  t.equal(result.code, 0);
  t.equal(result.stdout.toString(), '{"status":"SERVING"}');

  const dir = scratch(t);
  const dump = join(dir, "headers.txt");
  await curl([...seed, "-D", dump]);
  const { status, headers } = parseDump(readFileSync(dump, "utf8"));
  t.equal(status, 200);
  t.match(headers.get("content-type"), /^application\/json\b/);
});

t.test("the seed's request for an unknown service gets 404 not_found", needs("curl"), async (t) => {
  const target = await startTarget(t, startConnectReference);
  const dir = scratch(t);
  const dump = join(dir, "headers.txt");
  const result = await curl([
    "-sS",
    "-X",
    "POST",
    `${target.url("1.1")}/grpc.health.v1.Health/Check`,
    "-H",
    "Content-Type: application/json",
    "-d",
    '{"service":"no.such.Service"}',
    "-D",
    dump,
  ]);
  const { status, headers } = parseDump(readFileSync(dump, "utf8"));
  t.equal(status, 404);
  t.match(headers.get("content-type"), /^application\/json\b/);
  t.match(JSON.parse(result.stdout.toString()), { code: "not_found", message: /\S/ });
});

t.test("a gRPC Check over h2c prior knowledge", needs("curl"), async (t) => {
  const target = await startTarget(t, startGrpcJsReference);
  const dir = scratch(t);
  const body = join(dir, "request.bin");
  const dump = join(dir, "headers.txt");
  writeFileSync(body, envelope(checkRequest("greet.GreetService")));
  const result = await curl([
    "-sS",
    "--http2-prior-knowledge",
    "-X",
    "POST",
    `${target.url("2")}/grpc.health.v1.Health/Check`,
    "-H",
    "Content-Type: application/grpc",
    "-H",
    "TE: trailers",
    "--data-binary",
    `@${body}`,
    "-D",
    dump,
  ]);
  t.equal(result.stderr, "", "curl reports no error");
  const { status, headers, trailers } = parseDump(readFileSync(dump, "utf8"));
  t.equal(status, 200);
  t.match(headers.get("content-type"), /^application\/grpc(\+proto)?$/);
  t.equal(trailers.get("grpc-status"), "0", "grpc-status 0 in the trailers");
  // One envelope: uncompressed, 2 bytes, field 1 = SERVING (1).
  t.same([...result.stdout], [0, 0, 0, 0, 2, 0x08, 0x01]);
});

t.test("a gRPC Check of an unknown service over h2c gets grpc-status 5", needs("curl"), async (t) => {
  const target = await startTarget(t, startGrpcJsReference);
  const dir = scratch(t);
  const body = join(dir, "request.bin");
  const dump = join(dir, "headers.txt");
  writeFileSync(body, envelope(checkRequest("no.such.Service")));
  const result = await curl([
    "-sS",
    "--http2-prior-knowledge",
    "-X",
    "POST",
    `${target.url("2")}/grpc.health.v1.Health/Check`,
    "-H",
    "Content-Type: application/grpc",
    "-H",
    "TE: trailers",
    "--data-binary",
    `@${body}`,
    "-D",
    dump,
  ]);
  const { status, headers, trailers } = parseDump(readFileSync(dump, "utf8"));
  t.equal(status, 200, "gRPC errors travel with HTTP 200");
  // Trailers-Only (status in the one HEADERS frame) or headers then trailers: both are valid gRPC.
  t.equal(trailers.get("grpc-status") ?? headers.get("grpc-status"), "5");
  t.equal(result.stdout.length, 0, "no message");
});

for (const httpVersion of ["1.1", "2"] as const) {
  t.test(`a non-RPC content-type gets 415 over HTTP/${httpVersion}`, needs("curl"), async (t) => {
    const target = await startTarget(t, startConnectReference);
    const dir = scratch(t);
    const dump = join(dir, "headers.txt");
    await curl([
      "-sS",
      ...(httpVersion === "2" ? ["--http2-prior-knowledge"] : []),
      "-X",
      "POST",
      `${target.url(httpVersion)}/grpc.health.v1.Health/Check`,
      "-H",
      "Content-Type: text/plain",
      "-d",
      "greet.GreetService",
      "-D",
      dump,
    ]);
    t.equal(parseDump(readFileSync(dump, "utf8")).status, 415);
  });
}
