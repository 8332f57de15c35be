// The consumer's MetadataServiceV2 call (tripleMetadataFetcher) against real servers: ours answering a
// revision, an old revision and a sparse MetadataInfoV2; raw HTTP/2 servers answering what a broken or
// foreign instance answers (garbage bytes, an HTML 404, nothing at all); a port that refuses, and one
// that accepts and never speaks. Each ends as one RpcError within the call's bound, never a hang.
import http2 from "node:http2";
import net from "node:net";
import t, { type Test } from "tap";
import { createMessageCodec } from "../../src/codec/message-codec.ts";
import { loadProtoFiles } from "../../src/codec/proto-files.ts";
import type { MetadataInfo } from "../../src/discovery/dubbo/metadata-info.ts";
import { tripleMetadataFetcher } from "../../src/discovery/metadata-client.ts";
import { createMetadataService, metadataServiceExport } from "../../src/discovery/metadata-service.ts";
import { createTripleServer } from "../../src/host/triple-server.ts";
import { Code } from "../../src/wire/code.ts";
import { encodeEnvelope } from "../../src/wire/envelope-encoder.ts";
import { startProvider } from "../fixtures/dubbo-fleet.ts";
import { listenLocal, unusedPort } from "../fixtures/start-server.ts";

const root = loadProtoFiles("metadata_service_v2.proto");
const requestCodec = createMessageCodec<{ revision: string }>(
  root.lookupType("org.apache.dubbo.metadata.MetadataRequest"),
);
const infoCodec = createMessageCodec<MetadataInfo>(
  root.lookupType("org.apache.dubbo.metadata.MetadataInfoV2"),
);
const serviceFields = ["group", "name", "params", "path", "port", "protocol", "version"];

/** A raw HTTP/2 server: `answer` gets each stream, its headers and its whole request body. */
async function rawServer(
  t: Test,
  answer: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, body: Buffer) => void,
) {
  const server = http2.createServer();
  const streams: http2.ServerHttp2Stream[] = [];
  server.on("stream", (stream, headers) => {
    streams.push(stream);
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => answer(stream, headers, Buffer.concat(chunks)));
    stream.on("error", () => {});
  });
  const local = await listenLocal(server, t);
  return { port: local.port, streams };
}

async function failure(call: Promise<unknown>): Promise<{ code?: number; message: string }> {
  try {
    await call;
  } catch (error) {
    return error as { code?: number; message: string };
  }
  throw new Error("the call succeeded");
}

t.test("our MetadataServiceV2: the revision, an old one, a sparse answer", async (t) => {
  const provider = await startProvider(t, { app: "meta-app", group: "g1", version: "1.0.0" });
  const fetch = tripleMetadataFetcher(2000);
  const query = { host: "127.0.0.1", port: provider.port, app: "meta-app" };
  const info = await fetch({ ...query, revision: provider.metadata.version });
  t.same(info, provider.metadata, "what the provider serves, field for field");
  const key = Object.keys(info.services)[0]!;
  t.same(Object.keys(info.services[key]!).sort(), serviceFields, "every field its own (a plain object)");
  t.equal(
    JSON.parse(JSON.stringify(info)).tag,
    "",
    "fields at their zero value survive JSON: nothing left on a prototype",
  );
  // The same fetcher again (the method description is built once and kept).
  t.same(await fetch({ ...query, revision: provider.metadata.version }), info);
  const old = await failure(fetch({ ...query, revision: "an-old-revision" }));
  t.match(old, { code: Code.NotFound, message: /no metadata of revision an-old-revision/ });
  // Another application's group: the provider has no such export.
  const other = await failure(fetch({ ...query, app: "other-app", revision: provider.metadata.version }));
  t.equal(other.code, Code.Unimplemented, "asked under the wrong application: UNIMPLEMENTED");

  // A MetadataInfoV2 with every field at its zero value but one service's name: read as zero values.
  const sparse = createTripleServer({});
  sparse.addService(
    "org.apache.dubbo.metadata.MetadataServiceV2",
    createMetadataService(
      () => ({ app: "", version: "", tag: "", services: { k: { name: "x.Y" } } }) as unknown as MetadataInfo,
    ),
    metadataServiceExport("sparse-app"),
  );
  t.teardown(() => sparse.close({ graceMs: 0 }));
  const { port } = await sparse.listen(0, "127.0.0.1");
  const read = await fetch({ host: "127.0.0.1", port, app: "sparse-app", revision: "" });
  t.same(JSON.parse(JSON.stringify(read)), {
    app: "",
    version: "",
    services: { k: { name: "x.Y", group: "", version: "", protocol: "", port: 0, path: "", params: {} } },
    tag: "",
  });
});

t.test("what goes on the wire, as dubbo-go's client sends it", async (t) => {
  const seen: { headers: http2.IncomingHttpHeaders; revision: string }[] = [];
  const server = await rawServer(t, (stream, headers, body) => {
    seen.push({ headers, revision: requestCodec.decodeBinary(body.subarray(5)).revision });
    const answer = infoCodec.encodeBinary({
      app: "wire-app",
      version: "r1",
      tag: "",
      services: {
        "g1/greet.GreetService:1.0.0:tri": {
          name: "greet.GreetService",
          group: "g1",
          version: "1.0.0",
          protocol: "tri",
          port: 1,
          path: "greet.GreetService",
          params: { methods: "Greet" },
        },
      },
    });
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    stream.end(encodeEnvelope(0, answer));
    stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
  });
  const info = await tripleMetadataFetcher(2000)({
    host: "127.0.0.1",
    port: server.port,
    app: "wire-app",
    revision: "r1",
  });
  t.equal(info.services["g1/greet.GreetService:1.0.0:tri"]?.params["methods"], "Greet");
  t.equal(seen.length, 1);
  t.match(seen[0]!.headers, {
    ":method": "POST",
    ":path": "/org.apache.dubbo.metadata.MetadataServiceV2/GetMetadataInfo",
    "content-type": /^application\/grpc/,
    "tri-service-group": "wire-app",
    "tri-service-version": "2.0.0",
  });
  t.equal(seen[0]!.revision, "r1", "the revision from the instance node");
});

t.test("broken, foreign and silent instances: one RpcError each, within the bound", async (t) => {
  const fetch = tripleMetadataFetcher(500);
  const ask = (port: number) => fetch({ host: "127.0.0.1", port, app: "a", revision: "r" });

  // Garbage where a MetadataInfoV2 should be: a length-delimited field that runs past the message.
  const garbage = await rawServer(t, (stream) => {
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    stream.end(encodeEnvelope(0, Buffer.from([0x1a, 0xff, 0xff, 0xff, 0x0f, 0x01])));
    stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
  });
  t.match(await failure(ask(garbage.port)), {
    code: Code.Internal,
    message: /cannot decode org\.apache\.dubbo\.metadata\.MetadataInfoV2/,
  });

  // Not a gRPC server at all (a web server's 404 page): gRPC's HTTP mapping, UNIMPLEMENTED.
  const html = await rawServer(t, (stream) => {
    stream.respond({ ":status": 404, "content-type": "text/html" });
    stream.end("<html>not found</html>");
  });
  t.match(await failure(ask(html.port)), { code: Code.Unimplemented });

  // An instance that takes the call and never answers: DEADLINE_EXCEEDED at the bound, the stream closed.
  const silent = await rawServer(t, () => {});
  const started = Date.now();
  t.match(await failure(ask(silent.port)), { code: Code.DeadlineExceeded });
  const took = Date.now() - started;
  t.ok(took >= 400 && took < 5000, `bounded by the fetcher's timeout (${took} ms)`);
  for (let i = 0; i < 100 && !silent.streams.every((s) => s.closed); i++)
    await new Promise((resolve) => setTimeout(resolve, 20));
  t.ok(
    silent.streams.length === 1 && silent.streams[0]!.closed,
    "the abandoned call is reset, not left open",
  );

  // A port nothing listens on: UNAVAILABLE.
  t.match(await failure(ask(await unusedPort())), { code: Code.Unavailable });

  // A port that accepts the connection and never speaks HTTP/2: bounded too.
  const mute = net.createServer(() => {});
  const muted = await listenLocal(mute, t);
  const mutedAt = Date.now();
  const quiet = await failure(ask(muted.port));
  t.ok(
    quiet.code === Code.DeadlineExceeded || quiet.code === Code.Unavailable,
    `no HTTP/2 answer: ${quiet.code} (${quiet.message})`,
  );
  t.ok(Date.now() - mutedAt < 5000, "within the bound");
});
