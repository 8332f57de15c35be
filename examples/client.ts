// dubbo-go-samples' healthcheck go-client, in TypeScript: Check greet.GreetService, then Watch it and
// print its first status. Against examples/server.ts it prints, twice:
//   greet.GreetService's health status:SERVING
//
//   TS_NODE_TRANSPILE_ONLY=1 node --import @tapjs/typescript/import examples/client.ts [host:port]
import { createHealthClient } from "../src/client/health-client.ts";
import { servingStatusName } from "../src/codec/health-types.ts";

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
  console.error(`check failed: ${(error as Error).message}`);
}

const controller = new AbortController();
try {
  for await (const status of client.watch(service, { signal: controller.signal })) {
    console.log(`${service}'s health status:${servingStatusName(status)}`);
    controller.abort(); // like the Go sample: the first message only
  }
} catch (error) {
  failed = true;
  console.error(`failed to watch health: ${(error as Error).message}`);
}

await client.close();
process.exitCode = failed ? 1 : 0;
