import { execFile } from "node:child_process";
import { promisify } from "node:util";
import t from "tap";
import { needs } from "../fixtures/tools.ts";
import { checkRequestBytes, envelope, startProbeServer } from "./fixtures/helpers.ts";

const run = promisify(execFile);
const { server, port } = await startProbeServer(t, {}, { graceMs: 100 });
const { loadProtoFiles } = await import("../../src/codec/proto-files.ts");
const { defineService } = await import("../../src/server/define-service.ts");
server.addService(
  "greet.GreetService",
  defineService(loadProtoFiles("greet.proto"), "greet.GreetService", {
    Greet: (request: { name: string }) => ({ greeting: `hello ${request.name}` }),
  }),
);

t.test('the seed\'s curl request answers exactly {"status":"SERVING"}', needs("curl"), async (t) => {
  const { stdout } = await run("curl", [
    "-sS",
    "-X",
    "POST",
    `http://127.0.0.1:${port}/grpc.health.v1.Health/Check`,
    "-H",
    "Content-Type: application/json",
    "-d",
    '{"service":"greet.GreetService"}',
  ]);
  t.equal(stdout, '{"status":"SERVING"}');
});

t.test("a gRPC Check with --http2-prior-knowledge", needs("curl"), async (t) => {
  const { stdout } = await run(
    "sh",
    [
      "-c",
      `printf '${[...envelope(checkRequestBytes("greet.GreetService"))].map((b) => `\\${b.toString(8).padStart(3, "0")}`).join("")}' | curl -sS --http2-prior-knowledge -X POST http://127.0.0.1:${port}/grpc.health.v1.Health/Check -H 'content-type: application/grpc' -H 'te: trailers' --data-binary @- -D - -o /dev/stderr 2>/dev/null; true`,
    ],
    { encoding: "latin1" },
  );
  t.match(stdout, /^HTTP\/2 200/);
  t.match(stdout, /content-type: application\/grpc/);
  t.match(stdout, /grpc-status: 0/);
  const body = await run("sh", [
    "-c",
    `printf '${[...envelope(checkRequestBytes("greet.GreetService"))].map((b) => `\\${b.toString(8).padStart(3, "0")}`).join("")}' | curl -sS --http2-prior-knowledge -X POST http://127.0.0.1:${port}/grpc.health.v1.Health/Check -H 'content-type: application/grpc' -H 'te: trailers' --data-binary @- | od -An -tx1`,
  ]);
  t.equal(body.stdout.replace(/\s+/g, ""), "00000000020801");
});

t.test("a bad content-type gets 415, a GET 405", needs("curl"), async (t) => {
  const { stdout } = await run("curl", [
    "-sS",
    "-o",
    "/dev/null",
    "-w",
    "%{http_code}",
    "-X",
    "POST",
    `http://127.0.0.1:${port}/grpc.health.v1.Health/Check`,
    "-H",
    "Content-Type: text/plain",
    "-d",
    "x",
  ]);
  t.equal(stdout, "415");
  const get = await run("curl", [
    "-sS",
    "-o",
    "/dev/null",
    "-w",
    "%{http_code}",
    `http://127.0.0.1:${port}/grpc.health.v1.Health/Check`,
  ]);
  t.equal(get.stdout, "405");
});

t.test("Greet over curl, HTTP/1.1 and h2c", needs("curl"), async (t) => {
  for (const flags of [[], ["--http2-prior-knowledge"]]) {
    const { stdout } = await run("curl", [
      "-sS",
      ...flags,
      "-X",
      "POST",
      `http://127.0.0.1:${port}/greet.GreetService/Greet`,
      "-H",
      "Content-Type: application/json",
      "-d",
      '{"name":"curl"}',
    ]);
    t.equal(stdout, '{"greeting":"hello curl"}');
  }
});
