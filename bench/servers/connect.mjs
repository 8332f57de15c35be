// Peer: connect-node 1.7 (connectNodeAdapter) on http2.createServer (h2c) and http.createServer (HTTP/1.1),
// the health service's messages built at run time with protobuf-es v1. It answers gRPC on h2c and triple
// JSON/proto as the Connect protocol (the same bytes on the wire for unary calls).
import http from "node:http";
import http2 from "node:http2";
import { MethodKind, proto3 } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { benchService } from "../lib/health-bytes.mjs";
import { childFlag, runServerChild } from "../lib/server-child.mjs";

const maxStreams = Number(childFlag("max-streams", "1000"));

const ServingStatus = proto3.makeEnum("grpc.health.v1.HealthCheckResponse.ServingStatus", [
  { no: 0, name: "UNKNOWN" },
  { no: 1, name: "SERVING" },
  { no: 2, name: "NOT_SERVING" },
  { no: 3, name: "SERVICE_UNKNOWN" },
]);
const HealthCheckRequest = proto3.makeMessageType("grpc.health.v1.HealthCheckRequest", [
  { no: 1, name: "service", kind: "scalar", T: 9 /* string */ },
]);
const HealthCheckResponse = proto3.makeMessageType("grpc.health.v1.HealthCheckResponse", [
  { no: 1, name: "status", kind: "enum", T: proto3.getEnumType(ServingStatus) },
]);
const Health = {
  typeName: "grpc.health.v1.Health",
  methods: {
    check: { name: "Check", I: HealthCheckRequest, O: HealthCheckResponse, kind: MethodKind.Unary },
  },
};

const statuses = new Map([
  ["", 1],
  [benchService, 1],
]);
const handler = connectNodeAdapter({
  routes(router) {
    router.service(Health, {
      check(request) {
        const status = statuses.get(request.service);
        if (status === undefined) throw new ConnectError("unknown service", Code.NotFound);
        return new HealthCheckResponse({ status });
      },
    });
  },
});

const h2 = http2.createServer({ settings: { maxConcurrentStreams: maxStreams } }, handler);
const h1 = http.createServer({ keepAliveTimeout: 60000 }, handler);
const listen = (server) =>
  new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server.address().port)));
const [h2Port, h1Port] = await Promise.all([listen(h2), listen(h1)]);
runServerChild({
  name: "connect",
  ports: { h2: h2Port, h1: h1Port },
  close: async () => {
    h1.closeAllConnections();
    await Promise.all([new Promise((r) => h1.close(r)), new Promise((r) => h2.close(r))]);
  },
});
