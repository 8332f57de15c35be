// dubbo-go-samples' healthcheck go-server, in TypeScript: greet.GreetService (Greet answers with the
// name it was given) plus grpc.health.v1.Health, on 127.0.0.1:20000 — gRPC, triple/Connect and gRPC-Web
// on one port, HTTP/2 and HTTP/1.1.
//
//   TS_NODE_TRANSPILE_ONLY=1 node --import @tapjs/typescript/import examples/server.ts [port]
import { loadProtoFiles } from "../src/codec/proto-files.ts";
import { defineService } from "../src/server/define-service.ts";
import { createTripleServer } from "../src/server/triple-server.ts";

interface GreetRequest {
  name: string;
}
interface GreetResponse {
  greeting: string;
}

const port = Number(process.argv[2] ?? process.env["PORT"] ?? 20000);
const root = loadProtoFiles("greet.proto");

const server = createTripleServer();
server.addService(
  "greet.GreetService",
  defineService(root, "greet.GreetService", {
    Greet: (request: GreetRequest): GreetResponse => ({ greeting: request.name }),
  }),
);

const address = await server.listen(port, "127.0.0.1");
// The first line tells scripts (and the tests) where to connect.
console.log(`listening on ${address.host}:${address.port}`);

const stop = () => {
  void server.close().then(() => process.exit(0));
};
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
