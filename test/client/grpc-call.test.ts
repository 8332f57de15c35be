import { gzipSync } from "node:zlib";
import t from "tap";
import { createHealthClient } from "../../src/client/health-client.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { Code } from "../../src/wire/code.ts";
import type { Metadata } from "../../src/wire/rpc-error.ts";
import { envelope, startRawH2 } from "./fixtures/raw-server.ts";

const check = "/grpc.health.v1.Health/Check";
const watch = "/grpc.health.v1.Health/Watch";
const serving = Buffer.from([0x08, 0x01]);
const grpcHead = { ":status": 200, "content-type": "application/grpc+proto" };

t.test("gRPC corner cases against a scripted HTTP/2 server", async (t) => {
  const server = await startRawH2();
  const client = createHealthClient(server.url, { metadata: { "x-client": "a" }, userAgent: "probe/1" });
  t.teardown(async () => {
    await client.close();
    await server.close();
  });

  t.test("request headers, metadata and the envelope", async (t) => {
    let seen: Record<string, unknown> = {};
    let body: Buffer = Buffer.alloc(0);
    server.handle(check, (stream, headers, received) => {
      seen = headers;
      body = received;
      stream.respond(grpcHead, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0", "x-trailer": "t" }));
      stream.end(envelope(0, serving));
    });
    let trailer: Metadata = new Map();
    let header: Metadata = new Map();
    const status = await client.check("svc", {
      timeoutMs: 1500,
      metadata: new Map([["x-call", ["b"]]]),
      onTrailer: (m) => {
        trailer = m;
      },
      onHeader: (m) => {
        header = m;
      },
    });
    t.equal(status, ServingStatus.Serving);
    t.equal(seen["content-type"], "application/grpc+proto");
    t.equal(seen["te"], "trailers");
    t.equal(seen["user-agent"], "probe/1");
    t.equal(seen["grpc-timeout"], "1500m");
    t.equal(seen["x-client"], "a");
    t.equal(seen["x-call"], "b");
    t.same([...body], [0, 0, 0, 0, 5, 0x0a, 3, 0x73, 0x76, 0x63], "one envelope holding {service:'svc'}");
    t.same(trailer.get("x-trailer"), ["t"]);
    t.equal(header.has("content-type"), false, "protocol headers are not metadata");
  });

  t.test("Trailers-Only error with a percent-encoded message, details and metadata", async (t) => {
    server.handle(check, (stream) => {
      stream.respond(
        {
          ...grpcHead,
          "grpc-status": "5",
          "grpc-message": "no%20such%20service",
          "grpc-status-details-bin": Buffer.from("details").toString("base64"),
          "x-why": "because",
        },
        { endStream: true },
      );
    });
    const error = await client.check("x").catch((e: unknown) => e);
    t.match(error, { code: Code.NotFound, rawMessage: "no such service" });
    t.same(Buffer.from((error as { details: Uint8Array }).details).toString(), "details");
    t.same((error as { metadata: Metadata }).metadata.get("x-why"), ["because"]);
  });

  t.test("Trailers-Only OK on a unary call has no message: INTERNAL", async (t) => {
    server.handle(check, (stream) =>
      stream.respond({ ...grpcHead, "grpc-status": "0" }, { endStream: true }),
    );
    await t.rejects(client.check(), { code: Code.Internal });
  });

  t.test("two messages on a unary call: INTERNAL", async (t) => {
    server.handle(check, (stream) => {
      stream.respond(grpcHead, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(Buffer.concat([envelope(0, serving), envelope(0, serving)]));
    });
    await t.rejects(client.check(), { code: Code.Internal });
  });

  t.test("missing grpc-status trailer: INTERNAL", async (t) => {
    server.handle(check, (stream) => {
      stream.respond(grpcHead);
      stream.end(envelope(0, serving));
    });
    await t.rejects(client.check(), { code: Code.Internal, message: /grpc-status/ });
  });

  t.test("invalid grpc-status: UNKNOWN", async (t) => {
    server.handle(check, (stream) =>
      stream.respond({ ...grpcHead, "grpc-status": "abc" }, { endStream: true }),
    );
    await t.rejects(client.check(), { code: Code.Unknown });
  });

  t.test("HTTP 503 without grpc-status: UNAVAILABLE; with grpc-status: that code", async (t) => {
    server.handle(check, (stream) => stream.respond({ ":status": 503 }, { endStream: true }));
    await t.rejects(client.check(), { code: Code.Unavailable });
    server.handle(check, (stream) =>
      stream.respond(
        { ":status": 429, "grpc-status": "8", "grpc-message": "slow down" },
        { endStream: true },
      ),
    );
    await t.rejects(client.check(), { code: Code.ResourceExhausted, message: /slow down/ });
  });

  t.test("a non-gRPC content-type: UNKNOWN; another codec: INTERNAL", async (t) => {
    server.handle(check, (stream) => {
      stream.respond({ ":status": 200, "content-type": "text/html" });
      stream.end("<html>");
    });
    await t.rejects(client.check(), { code: Code.Unknown });
    server.handle(check, (stream) =>
      stream.respond({ ...grpcHead, "content-type": "application/grpc+json" }, { endStream: true }),
    );
    await t.rejects(client.check(), { code: Code.Internal });
  });

  t.test("gzip messages are inflated; a compressed flag without grpc-encoding is INTERNAL", async (t) => {
    server.handle(check, (stream) => {
      stream.respond({ ...grpcHead, "grpc-encoding": "gzip" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(envelope(1, gzipSync(Buffer.from([0x08, 0x02]))));
    });
    t.equal(await client.check(), ServingStatus.NotServing);
    server.handle(check, (stream) => {
      stream.respond(grpcHead, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(envelope(1, serving));
    });
    await t.rejects(client.check(), { code: Code.Internal, message: /compressed/ });
    server.handle(check, (stream) => {
      stream.respond({ ...grpcHead, "grpc-encoding": "br" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(envelope(1, serving));
    });
    await t.rejects(client.check(), { code: Code.Internal, message: /br/ });
  });

  t.test("a response message that does not decode: INTERNAL", async (t) => {
    server.handle(check, (stream) => {
      stream.respond(grpcHead, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(envelope(0, Buffer.from([0x08])));
    });
    await t.rejects(client.check(), { code: Code.Internal, message: /invalid response message/ });
  });

  t.test("a message above maxMessageBytes: RESOURCE_EXHAUSTED", async (t) => {
    const small = createHealthClient(server.url, { maxMessageBytes: 10 });
    t.teardown(() => small.close());
    server.handle(check, (stream) => {
      stream.respond(grpcHead);
      stream.end(envelope(0, Buffer.alloc(100)));
    });
    await t.rejects(small.check(), { code: Code.ResourceExhausted });
  });

  t.test("a body ending inside an envelope: INTERNAL", async (t) => {
    server.handle(check, (stream) => {
      stream.respond(grpcHead, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(envelope(0, serving).subarray(0, 4));
    });
    await t.rejects(client.check(), { code: Code.Internal });
  });

  t.test("RST_STREAM: REFUSED_STREAM is UNAVAILABLE, INTERNAL_ERROR is INTERNAL", async (t) => {
    server.handle(check, (stream) => stream.close(7));
    await t.rejects(client.check(), { code: Code.Unavailable });
    server.handle(watch, (stream) => {
      stream.respond(grpcHead);
      stream.write(envelope(0, serving), () => setTimeout(() => stream.close(2), 20));
    });
    const seen: ServingStatus[] = [];
    await t.rejects(
      (async () => {
        for await (const status of client.watch()) seen.push(status);
      })(),
      { code: Code.Internal },
    );
    t.same(seen, [ServingStatus.Serving]);
  });

  t.test("a server that never answers: DEADLINE_EXCEEDED, stream cancelled", async (t) => {
    let cancelled = false;
    server.handle(check, (stream) => {
      stream.on("close", () => {
        cancelled = stream.rstCode === 8;
      });
    });
    await t.rejects(client.check("", { timeoutMs: 100 }), { code: Code.DeadlineExceeded });
    await new Promise((resolve) => setTimeout(resolve, 50));
    t.ok(cancelled, "the server saw RST_STREAM CANCEL");
  });

  t.test("a watch ended by the server with OK just ends", async (t) => {
    server.handle(watch, (stream) => {
      stream.respond(grpcHead, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(Buffer.concat([envelope(0, serving), envelope(0, Buffer.from([0x08, 0x02]))]));
    });
    const seen: ServingStatus[] = [];
    for await (const status of client.watch()) seen.push(status);
    t.same(seen, [ServingStatus.Serving, ServingStatus.NotServing]);
  });
});
