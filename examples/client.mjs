// dubbo-go-samples' healthcheck go-client, in JavaScript: Check greet.GreetService, then Watch it and
// print its first status. Against examples/server.mjs it prints, twice:
//   greet.GreetService's health status:SERVING
//
//   npm run build && node examples/client.mjs [host:port]
//
// It imports the package by its name, as your code would; inside this repository that name resolves to
// the build in dist/ through package.json's "exports".
import { createHealthClient, servingStatusName } from "triple-health";

const address = process.argv[2] ?? "127.0.0.1:20000";
// dubbo-go's default client speaks gRPC over cleartext HTTP/2 (tri://host:port); so does this one.
const client = createHealthClient(`tri://${address}`, { protocol: "grpc", timeoutMs: 3000 });
const service = "greet.GreetService";
let failed = false;

try {
  const status = await client.check(service);
  console.log(`${service}'s health status:${servingStatusName(status)}`);
} catch (error) {
  failed = true;
  console.error(`check failed: ${error.message}`);
}

const controller = new AbortController();
try {
  for await (const status of client.watch(service, { signal: controller.signal })) {
    console.log(`${service}'s health status:${servingStatusName(status)}`);
    controller.abort(); // like the Go sample: the first message only
  }
} catch (error) {
  failed = true;
  console.error(`failed to watch health: ${error.message}`);
}

await client.close();
process.exitCode = failed ? 1 : 0;
