import { gzipSync } from "node:zlib";
import t from "tap";
import { createHealthClient } from "../../src/client/health-client.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { Code, codeFromHttpStatus } from "../../src/wire/code.ts";
import type { Metadata } from "../../src/wire/rpc-error.ts";
import { envelope, startRawH1, startRawH2 } from "./fixtures/raw-server.ts";

const check = "/grpc.health.v1.Health/Check";
const watch = "/grpc.health.v1.Health/Watch";

t.test("triple unary over HTTP/1.1 against a scripted server", async (t) => {
  const server = await startRawH1();
  const client = createHealthClient(server.url, { protocol: "triple", httpVersion: "1.1", codec: "json" });
  t.teardown(async () => {
    await client.close();
    await server.close();
  });

  t.test("request shape, timeout headers and trailer- metadata", async (t) => {
    let headers: Record<string, unknown> = {};
    let body = "";
    server.handle(check, (req, res, received) => {
      headers = req.headers;
      body = received.toString();
      res.writeHead(200, { "content-type": "application/json", "trailer-x-t": "tv", "x-h": "hv" });
      res.end('{"status":"NOT_SERVING"}');
    });
    let trailer: Metadata = new Map();
    let header: Metadata = new Map();
    const status = await client.check("svc", {
      timeoutMs: 250,
      metadata: { "x-m": ["1", "2"] },
      onHeader: (m) => {
        header = m;
      },
      onTrailer: (m) => {
        trailer = m;
      },
    });
    t.equal(status, ServingStatus.NotServing);
    t.equal(body, '{"service":"svc"}');
    t.equal(headers["content-type"], "application/json");
    t.equal(headers["connect-protocol-version"], "1");
    t.equal(headers["connect-timeout-ms"], "250");
    t.equal(headers["triple-timeout-ms"], "250");
    t.equal(headers["x-m"], "1, 2");
    t.same(trailer.get("x-t"), ["tv"]);
    t.same(header.get("x-h"), ["hv"]);
  });

  const errorCases: [string, number, string, Record<string, string>, Code][] = [
    [
      "string code (Connect, dubbo-go)",
      404,
      '{"code":"not_found","message":"unknown service"}',
      { "content-type": "application/json" },
      Code.NotFound,
    ],
    [
      "numeric status (dubbo-js)",
      404,
      '{"status":5,"message":"unknown service"}',
      { "content-type": "application/json" },
      Code.NotFound,
    ],
    [
      "both",
      404,
      '{"code":"not_found","status":5,"message":"x"}',
      { "content-type": "application/json" },
      Code.NotFound,
    ],
    ["a non-JSON 503", 503, "busy", { "content-type": "text/plain" }, Code.Unavailable],
    ["a plain 404", 404, "", {}, Code.Unimplemented],
    [
      "a JSON body without a code",
      429,
      `{"hello":1}`,
      { "content-type": "application/json" },
      codeFromHttpStatus(429),
    ],
    ["broken JSON", 400, "{", { "content-type": "application/json" }, Code.InvalidArgument],
  ];
  for (const [name, status, body, headers, code] of errorCases) {
    t.test(`error body: ${name}`, async (t) => {
      server.handle(check, (_req, res) => {
        res.writeHead(status, headers);
        res.end(body);
      });
      await t.rejects(client.check("x"), { code });
    });
  }

  t.test("a 200 with another content-type: INTERNAL", async (t) => {
    server.handle(check, (_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<html>");
    });
    await t.rejects(client.check(), { code: Code.Internal });
  });

  t.test("a gzip body is inflated; an unknown encoding is INTERNAL", async (t) => {
    server.handle(check, (_req, res) => {
      res.writeHead(200, { "content-type": "application/json", "content-encoding": "gzip" });
      res.end(gzipSync('{"status":"SERVING"}'));
    });
    t.equal(await client.check(), ServingStatus.Serving);
    server.handle(check, (_req, res) => {
      res.writeHead(200, { "content-type": "application/json", "content-encoding": "br" });
      res.end("x");
    });
    await t.rejects(client.check(), { code: Code.Internal });
  });

  t.test("a body above maxMessageBytes: RESOURCE_EXHAUSTED", async (t) => {
    const small = createHealthClient(server.url, {
      protocol: "triple",
      httpVersion: "1.1",
      maxMessageBytes: 8,
    });
    t.teardown(() => small.close());
    server.handle(check, (_req, res) => {
      res.writeHead(200, { "content-type": "application/proto" });
      res.end(Buffer.alloc(64));
    });
    await t.rejects(small.check(), { code: Code.ResourceExhausted });
  });

  t.test("a server that never answers: DEADLINE_EXCEEDED", async (t) => {
    server.handle(check, () => {});
    await t.rejects(client.check("", { timeoutMs: 100 }), { code: Code.DeadlineExceeded });
  });

  t.test("a Watch over HTTP/1.1 (chunked envelopes)", async (t) => {
    server.handle(watch, (req, res) => {
      t.equal(req.headers["content-type"], "application/connect+json");
      res.writeHead(200, { "content-type": "application/connect+json" });
      res.write(envelope(0, '{"status":"SERVING"}'));
      res.end(envelope(2, "{}"));
    });
    const seen: ServingStatus[] = [];
    for await (const status of client.watch("a")) seen.push(status);
    t.same(seen, [ServingStatus.Serving]);
  });
});

t.test("triple streaming over HTTP/2 against a scripted server", async (t) => {
  const server = await startRawH2();
  const client = createHealthClient(server.url, { protocol: "triple" });
  t.teardown(async () => {
    await client.close();
    await server.close();
  });
  const head = { ":status": 200, "content-type": "application/connect+proto" };
  const serving = Buffer.from([0x08, 0x01]);

  const collect = async (options = {}) => {
    const seen: ServingStatus[] = [];
    let error: unknown;
    try {
      for await (const status of client.watch("svc", options)) seen.push(status);
    } catch (e) {
      error = e;
    }
    return { seen, error };
  };

  t.test("messages then end-stream with metadata", async (t) => {
    let headers: Record<string, unknown> = {};
    server.handle(watch, (stream, h) => {
      headers = h;
      stream.respond(head);
      stream.end(Buffer.concat([envelope(0, serving), envelope(2, '{"metadata":{"x-end":["e"]}}')]));
    });
    let trailer: Metadata = new Map();
    const { seen, error } = await collect({
      timeoutMs: 5000,
      onTrailer: (m: Metadata) => {
        trailer = m;
      },
    });
    t.equal(error, undefined);
    t.same(seen, [ServingStatus.Serving]);
    t.same(trailer.get("x-end"), ["e"]);
    t.equal(headers["content-type"], "application/connect+proto");
    t.equal(headers["connect-timeout-ms"], "5000");
    t.equal(headers["connect-accept-encoding"], "identity,gzip");
  });

  t.test("end-stream with an error", async (t) => {
    server.handle(watch, (stream) => {
      stream.respond(head);
      stream.end(
        Buffer.concat([
          envelope(0, serving),
          envelope(2, '{"error":{"code":"unavailable","message":"going away"},"metadata":{"x-e":["1"]}}'),
        ]),
      );
    });
    const { seen, error } = await collect();
    t.same(seen, [ServingStatus.Serving]);
    t.match(error, { code: Code.Unavailable, rawMessage: "going away" });
    t.same((error as { metadata: Metadata }).metadata.get("x-e"), ["1"]);
  });

  const broken: [string, Buffer[], Code][] = [
    ["no end-stream", [envelope(0, serving)], Code.Internal],
    ["data after end-stream", [envelope(2, "{}"), envelope(0, serving)], Code.Internal],
    ["end-stream not JSON", [envelope(2, "nope")], Code.Internal],
    ["end-stream not an object", [envelope(2, "[1]")], Code.Internal],
    ["end-stream error without a code", [envelope(2, '{"error":{}}')], Code.Unknown],
    [
      "end-stream error with a numeric code",
      [envelope(2, '{"error":{"code":7,"message":"no"}}')],
      Code.PermissionDenied,
    ],
    ["a compressed flag without an encoding", [envelope(1, serving)], Code.Internal],
    ["a trailers flag (not triple)", [envelope(0x80, "")], Code.Internal],
  ];
  for (const [name, chunks, code] of broken) {
    t.test(name, async (t) => {
      server.handle(watch, (stream) => {
        stream.respond(head);
        stream.end(Buffer.concat(chunks));
      });
      const { error } = await collect();
      t.match(error, { code });
    });
  }

  t.test("gzip envelopes with connect-content-encoding", async (t) => {
    server.handle(watch, (stream) => {
      stream.respond({ ...head, "connect-content-encoding": "gzip" });
      stream.end(Buffer.concat([envelope(1, gzipSync(serving)), envelope(3, gzipSync("{}"))]));
    });
    const { seen, error } = await collect();
    t.equal(error, undefined);
    t.same(seen, [ServingStatus.Serving]);
  });

  t.test("a non-200 answer and a wrong content-type", async (t) => {
    server.handle(watch, (stream) => {
      stream.respond({ ":status": 401, "content-type": "application/json" });
      stream.end('{"code":"unauthenticated","message":"who"}');
    });
    t.match((await collect()).error, { code: Code.Unauthenticated, rawMessage: "who" });
    server.handle(watch, (stream) => {
      stream.respond({ ":status": 200, "content-type": "application/proto" });
      stream.end();
    });
    t.match((await collect()).error, { code: Code.Internal });
  });
});
