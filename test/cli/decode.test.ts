// `triple-health decode` on real captures (test/fixtures/captures, made by test/cli/fixtures/capture-wire.ts).
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { detectFormat, guessHealthMessage, rawFields, splitEnvelopes } from "../../src/cli/envelope-dump.ts";
import { loadProtoFiles } from "../../src/codec/proto-files.ts";
import { runCli, spawnCli } from "../fixtures/run-cli.ts";

const captures = new URL("../fixtures/captures/", import.meta.url);
const fixture = (name: string) => new URL(`${name}.hex`, captures).pathname;

interface Decoded {
  format: string;
  framing: string;
  messages: Record<string, unknown>[];
}

async function decode(name: string, ...flags: string[]): Promise<Decoded> {
  const result = await runCli(["decode", ...flags, fixture(name)]);
  if (result.code !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout) as Decoded;
}

t.test("gRPC Check and Watch", async (t) => {
  const request = await decode("grpc-check-request");
  t.equal(request.format, "hex");
  t.equal(request.framing, "envelopes");
  t.match(request.messages, [
    {
      flags: "0x00",
      flagNames: [],
      length: 20,
      type: "grpc.health.v1.HealthCheckRequest",
      message: { service: "greet.GreetService" },
    },
  ]);
  const response = await decode("grpc-check-response");
  t.match(response.messages, [
    { type: "grpc.health.v1.HealthCheckResponse", message: { status: "SERVING" } },
  ]);
  const notFound = await decode("grpc-check-not-found-response");
  t.same(notFound.messages, [], "Trailers-Only: no body at all");
  const annotatedEmpty = await runCli(["decode", "--annotate", fixture("grpc-check-not-found-response")]);
  t.equal(annotatedEmpty.stdout, "# (empty body)\n");
  const watch = await decode("grpc-watch-response");
  t.match(watch.messages, [{ message: { status: "SERVING" } }, { message: { status: "NOT_SERVING" } }]);
});

t.test("triple unary (raw bodies, proto and JSON) and a JSON error", async (t) => {
  const proto = await decode("triple-check-proto-request");
  t.equal(proto.framing, "unary");
  t.match(proto.messages, [{ codec: "proto", message: { service: "greet.GreetService" } }]);
  const json = await decode("triple-check-json-response");
  t.match(json.messages, [{ codec: "json", message: { status: "SERVING" } }]);
  const error = await decode("triple-check-not-found-response");
  t.match(error.messages, [{ codec: "json", message: { code: "not_found", status: 5 } }]);
});

t.test("triple streaming: envelopes and the end-stream message", async (t) => {
  const watch = await decode("triple-watch-json-response");
  t.equal(watch.framing, "envelopes");
  t.match(watch.messages, [
    { flags: "0x00", codec: "json", message: { status: "SERVING" } },
    { flags: "0x00", message: { status: "NOT_SERVING" } },
    { flags: "0x02", flagNames: ["end-stream"], endStream: {} },
  ]);
  const proto = await decode("triple-watch-proto-response");
  t.match(proto.messages.at(-1), { flagNames: ["end-stream"] });
});

t.test("gRPC-Web trailer frames, from our server and from connect-node", async (t) => {
  for (const name of ["grpc-web-check-response", "connect-node-grpc-web-check-response"]) {
    const web = await decode(name);
    t.match(
      web.messages,
      [
        { flags: "0x00", message: { status: "SERVING" } },
        { flags: "0x80", flagNames: ["trailers"], trailers: { "grpc-status": "0" } },
      ],
      name,
    );
  }
});

t.test("input formats, framing, --proto/--type, annotate, stdin", async (t) => {
  const bytes = Buffer.from("0000000002080100000000020802", "hex");
  const b64 = await runCli(["decode"], bytes.toString("base64"));
  t.equal(JSON.parse(b64.stdout).format, "base64");
  const raw = await runCli(["decode", "--format", "raw", "-"], bytes);
  t.equal(JSON.parse(raw.stdout).messages.length, 2);
  const unary = await runCli(["decode", "--framing", "unary"], "0801");
  t.match(JSON.parse(unary.stdout).messages, [{ message: { status: "SERVING" } }]);
  const notEnvelopes = await runCli(["decode", "--framing", "envelopes"], "0801");
  t.equal(notEnvelopes.code, 1);
  t.match(notEnvelopes.stderr, /not a sequence of complete envelopes/);
  const badHex = await runCli(["decode", "--format", "hex"], "zz");
  t.equal(badHex.code, 1);
  const typed = await runCli(
    [
      "decode",
      "--proto",
      new URL("../../proto/greet.proto", import.meta.url).pathname,
      "--type",
      "greet.GreetResponse",
    ],
    "0a026869",
  );
  t.match(JSON.parse(typed.stdout).messages, [{ type: "greet.GreetResponse", message: { greeting: "hi" } }]);
  const wrongType = await runCli(
    ["decode", "--type", "grpc.health.v1.HealthCheckResponse", "--framing", "unary"],
    "0a026869ff",
  );
  t.match(JSON.parse(wrongType.stdout).messages, [{ error: /not a/ }]);
  t.equal((await runCli(["decode", "--proto", "x.proto"])).code, 1, "--proto without --type");
  t.equal((await runCli(["decode", "a", "b"])).code, 1, "two files");
  t.equal((await runCli(["decode", "/no/such/file"])).code, 1, "missing file");
  t.equal((await runCli(["decode", "--bogus"])).code, 1, "bad flag");
  t.equal((await runCli(["decode", "--help"])).code, 0);

  const annotated = await runCli(["decode", "--annotate", fixture("triple-watch-json-response")]);
  t.match(annotated.stdout, /^00 +# flags 0x00: message$/m);
  t.match(annotated.stdout, /^00 00 00 14 +# length 20$/m);
  t.match(annotated.stdout, /^02 +# flags 0x02: end-stream$/m);
  t.match(annotated.stdout, /# end-stream \{\}/);
  const annotatedUnary = await runCli(["decode", "--annotate", fixture("triple-check-proto-response")]);
  t.match(annotatedUnary.stdout, /# unary body: grpc.health.v1.HealthCheckResponse \{"status":"SERVING"\}/);
  const empty = await runCli(["decode", "--annotate", "--framing", "unary", "--format", "raw"], "");
  t.match(empty.stdout, /empty body/);
  const emptyEnvelope = await runCli(["decode", "--annotate"], "0000000000");
  t.match(emptyEnvelope.stdout, /empty payload/);

  // gzip-compressed envelope, a broken one, a gRPC-Web trailer frame, an end-stream that is not JSON
  const { gzipSync } = await import("node:zlib");
  const payload = gzipSync(Buffer.from([0x08, 0x02]));
  const header = Buffer.from([1, 0, 0, 0, payload.length]);
  const compressed = await runCli(["decode", "--format", "raw"], Buffer.concat([header, payload]));
  t.match(JSON.parse(compressed.stdout).messages, [
    { flagNames: ["compressed"], decompressedLength: 2, message: { status: "NOT_SERVING" } },
  ]);
  const broken = await runCli(["decode"], "010000000178");
  t.match(JSON.parse(broken.stdout).messages, [{ error: /not gzip/ }]);
  const badEnd = await runCli(["decode"], "02000000017b");
  t.match(JSON.parse(badEnd.stdout).messages, [{ error: /not JSON/ }]);
});

t.test("message guessing and raw fields", async (t) => {
  const root = loadProtoFiles("health.proto");
  t.match(guessHealthMessage(Buffer.alloc(0), root), { message: {} });
  const list = Buffer.from("0a070a01611202080112", "hex");
  t.match(guessHealthMessage(list.subarray(0, 9), root), { type: "grpc.health.v1.HealthListResponse" });
  t.equal(guessHealthMessage(Buffer.from([0x10, 0x01]), root), undefined);
  t.match(
    rawFields(Buffer.from([0x10, 0x01, 0x1a, 0x01, 0x41, 0x25, 1, 0, 0, 0, 0x09, 1, 2, 3, 4, 5, 6, 7, 8])),
    [
      { field: 2, wireType: 0, value: "1" },
      { field: 3, wireType: 2, value: "41" },
      { field: 4, wireType: 5, value: 1 },
      { field: 1, wireType: 1, value: "0102030405060708" },
    ],
  );
  t.match(rawFields(Buffer.from([0x0f])), [{ wireType: -1 }]);
  t.equal(detectFormat(Buffer.from("# comment\n00 01")), "hex");
  t.equal(detectFormat(Buffer.from("AAE=")), "base64");
  t.equal(detectFormat(Buffer.from([0xff, 0x00])), "raw");
  t.equal(splitEnvelopes(Buffer.from([0x04, 0, 0, 0, 0])), undefined, "unknown flag bits: not envelopes");
  t.equal(splitEnvelopes(Buffer.from([0, 0, 0])), undefined);
  const json = await runCli(
    ["decode", "--framing", "unary", "--type", "grpc.health.v1.HealthCheckRequest"],
    '{"service":"a"}',
  );
  t.match(JSON.parse(json.stdout).messages, [{ codec: "json", type: "grpc.health.v1.HealthCheckRequest" }]);
  const unknownBytes = await runCli(["decode", "--framing", "unary"], "1001");
  t.match(JSON.parse(unknownBytes.stdout).messages, [{ fields: [{ field: 2 }] }]);
});

t.test("decode as a child process, from stdin", async (t) => {
  const dir = tmpdir();
  const file = join(dir, `capture-${process.pid}.hex`);
  writeFileSync(file, readFileSync(fixture("grpc-web-check-response")));
  const result = await spawnCli(["decode", "--annotate"], { stdin: readFileSync(file) });
  t.equal(result.code, 0);
  t.match(result.stdout, /# flags 0x80: trailers/);
  t.match(result.stdout, /gRPC-Web trailers \{"grpc-status":"0"\}/);
});

t.test("input size limit: on by default, named in the error, raised with --max-input-bytes", async (t) => {
  const defaultLimit = 16 * 1024 * 1024;
  const tooBig = Buffer.alloc(defaultLimit + 1);
  const refused = await runCli(["decode", "--format", "raw", "--framing", "unary"], tooBig);
  t.equal(refused.code, 1);
  t.equal(refused.stdout, "");
  t.match(refused.stderr, `limit of ${defaultLimit} bytes (raise it with --max-input-bytes)`);
  const raised = await runCli(
    ["decode", "--format", "raw", "--framing", "unary", "--max-input-bytes", String(defaultLimit + 1)],
    tooBig,
  );
  t.equal(raised.code, 0, raised.stderr);
  t.equal(JSON.parse(raised.stdout).bytes, defaultLimit + 1);

  const atLimit = await runCli(["decode", "--max-input-bytes", "4"], "0801");
  t.match(JSON.parse(atLimit.stdout).messages, [{ message: { status: "SERVING" } }], "exactly the limit");
  const overByOne = await runCli(["decode", "--max-input-bytes", "3"], "0801");
  t.equal(overByOne.code, 1);
  t.match(overByOne.stderr, "limit of 3 bytes");

  // A file is held to the same limit (it may be a pipe or a device that never ends).
  const file = join(tmpdir(), `capture-limit-${process.pid}.hex`);
  writeFileSync(file, "0801 0801");
  t.teardown(() => rmSync(file, { force: true }));
  const fromFile = await runCli(["decode", "--max-input-bytes", "8", file]);
  t.equal(fromFile.code, 1);
  t.match(fromFile.stderr, "limit of 8 bytes");
  t.equal((await runCli(["decode", "--max-input-bytes", "-1"])).code, 1, "not a whole number");
});

t.test("a failed decode exits 1; raw bytes that read as base64; a truncated envelope", async (t) => {
  const greetProto = new URL("../../proto/greet.proto", import.meta.url).pathname;
  // GreetResponse {greeting: "hello abc"}: tab and space are whitespace, the rest base64's letters.
  const raw = Buffer.concat([Buffer.from([0x0a, 9]), Buffer.from("hello abc")]);
  const file = join(tmpdir(), `body-${process.pid}.bin`);
  writeFileSync(file, raw);
  t.teardown(() => rmSync(file, { force: true }));
  const typed = await runCli([
    "decode",
    "--type",
    "greet.GreetResponse",
    "--proto",
    greetProto,
    "--framing",
    "unary",
    file,
  ]);
  t.equal(typed.code, 0, typed.stderr);
  t.match(JSON.parse(typed.stdout), { format: "raw", messages: [{ message: { greeting: "hello abc" } }] });
  const forced = await runCli([
    "decode",
    "--format",
    "base64",
    "--type",
    "greet.GreetResponse",
    "--proto",
    greetProto,
    file,
  ]);
  t.equal(forced.code, 1, "asked for base64: its failure stands");
  t.match(JSON.parse(forced.stdout), {
    format: "base64",
    messages: [{ error: /not a greet.GreetResponse/ }],
  });
  t.match(forced.stderr, /^error: the message at byte 0 cannot be decoded: not a greet\.GreetResponse/);
  const realBase64 = await runCli(["decode"], "AAAAAAIIAQ==");
  t.equal(JSON.parse(realBase64.stdout).format, "base64", "base64 that decodes stays base64");

  const truncated = await runCli(["decode"], "00 00000005 0801");
  t.equal(truncated.code, 1, "a truncated envelope is no unary body");
  t.equal(truncated.stdout, "");
  t.match(truncated.stderr, /not a sequence of complete envelopes.*flags 0x00.*truncated/);
  t.equal((await runCli(["decode"], "80")).code, 1, "a lone trailers flag");
  t.equal((await runCli(["decode"], "8001")).code, 0, "0x80 0x01: a protobuf tag (field 16), read as unary");
  const broken = await runCli(["decode"], "010000000178");
  t.equal(broken.code, 1, "a compressed payload that is not gzip");
  t.match(broken.stderr, /cannot be decoded: compressed payload is not gzip/);
  const notBase64Either = await runCli(["decode"], "AAAAAAIIAQAAAA==");
  t.equal(notBase64Either.code, 1, "truncated as base64 and as raw bytes: the base64 error");
  t.match(notBase64Either.stderr, /not a sequence of complete envelopes/);
});
