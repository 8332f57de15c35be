// Peer: @grpc/grpc-js with grpc-health-check's HealthImplementation (Check and Watch over gRPC, h2c only).
import grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { benchService } from "../lib/health-bytes.mjs";
import { childFlag, runServerChild } from "../lib/server-child.mjs";

const maxStreams = Number(childFlag("max-streams", "1000"));
const health = new HealthImplementation({ "": "SERVING", [benchService]: "SERVING" });
const server = new grpc.Server({ "grpc.max_concurrent_streams": maxStreams });
health.addToServer(server);
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  runServerChild({
    name: "grpc-js",
    ports: { h2: port },
    setStatus: (status) => health.setStatus(benchService, status),
    close: () => new Promise((resolve) => server.tryShutdown(() => resolve())),
  });
});
