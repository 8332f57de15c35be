// Ceiling for HTTP/2: node:http2's core 'stream' API answering fixed bytes — what a Check returns, picked by
// the request's content-type — after reading the request body. Nothing is decoded or validated: no server
// that does real work can beat this on the same node. For the watch fan-out bench it also keeps every
// Health/Watch stream open and writes the fixed bytes of the new status to each on a flip.
import http2 from "node:http2";
import {
  checkResponseGrpc,
  checkResponseJson,
  checkResponseProto,
  envelope,
  statusNames,
  watchPath,
} from "../lib/health-bytes.mjs";
import { childFlag, runServerChild } from "../lib/server-child.mjs";

const maxStreams = Number(childFlag("max-streams", "1000"));
const grpcHeaders = { ":status": 200, "content-type": "application/grpc" };
const grpcTrailers = { "grpc-status": "0" };
const jsonHeaders = { ":status": 200, "content-type": "application/json" };
const protoHeaders = { ":status": 200, "content-type": "application/proto" };
const trailersOptions = { waitForTrailers: true };

function sendGrpcTrailers() {
  this.sendTrailers(grpcTrailers);
}
function ignore() {}

const watchers = new Set();
let watchStatus = 1;
const statusMessage = (status) => envelope(Buffer.from([0x08, status]));
function forget() {
  watchers.delete(this);
}
function setStatus(name) {
  watchStatus = statusNames.indexOf(name);
  const message = statusMessage(watchStatus);
  for (const stream of watchers) stream.write(message);
}

const server = http2.createServer({ settings: { maxConcurrentStreams: maxStreams } });
server.on("stream", (stream, headers) => {
  const contentType = headers["content-type"] ?? "";
  stream.on("data", ignore);
  if (headers[":path"] === watchPath) {
    stream.respond(grpcHeaders);
    stream.write(statusMessage(watchStatus));
    watchers.add(stream);
    stream.on("close", forget);
    return;
  }
  stream.on("end", () => {
    if (contentType.startsWith("application/grpc")) {
      stream.on("wantTrailers", sendGrpcTrailers);
      stream.respond(grpcHeaders, trailersOptions);
      stream.end(checkResponseGrpc);
    } else if (contentType === "application/proto") {
      stream.respond(protoHeaders);
      stream.end(checkResponseProto);
    } else {
      stream.respond(jsonHeaders);
      stream.end(checkResponseJson);
    }
  });
});
server.listen(0, "127.0.0.1", () => {
  runServerChild({
    name: "ceiling-h2",
    ports: { h2: server.address().port },
    setStatus,
    close: () => new Promise((resolve) => server.close(resolve)),
  });
});
