// dubbo-go-samples' healthcheck go-server, in JavaScript: greet.GreetService (Greet answers with the
// name it was given) plus grpc.health.v1.Health, on 127.0.0.1:20000 — gRPC, triple/Connect and gRPC-Web
// on one port, HTTP/2 and HTTP/1.1.
//
//   npm run build && node examples/server.mjs [port]
//
// It imports the package by its name, as your code would; inside this repository that name resolves to
// the build in dist/ through package.json's "exports".
import { createTripleServer, defineService, loadProtoFiles } from "triple-health";

const port = Number(process.argv[2] ?? process.env.PORT ?? 20000);
const root = loadProtoFiles("greet.proto");

// greet.GreetService's methods as a type: with it an editor (or `tsc --checkJs`) types the handler's
// request, response and call. In TypeScript: defineService<GreetService>(root, "greet.GreetService", {...}).
/** @typedef {{ Greet: import("triple-health").UnaryMethod<{ name: string }, { greeting: string }> }} GreetService */
/** @type {import("triple-health").ServiceHandlers<GreetService>} */
const handlers = {
  Greet: (request) => ({ greeting: request.name }),
};

const server = createTripleServer();
server.addService("greet.GreetService", defineService(root, "greet.GreetService", handlers));

let address;
try {
  address = await server.listen(port, "127.0.0.1");
} catch (error) {
  if (error?.code !== "EADDRINUSE") throw error;
  // Most often `npm start` (the same port by default) is still running.
  console.error(
    `127.0.0.1:${port} is already in use (is \`npm start\` still running?): stop that server, or run node examples/server.mjs 0 to get a free port, printed on the first line`,
  );
  process.exit(1);
}
// The first line tells scripts (and the tests) where to connect.
console.log(`listening on ${address.host}:${address.port}`);

const stop = () => {
  void server.close().then(() => process.exit(0));
};
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
