// `triple-health check` as a child process against real servers: exit codes 0, 4 and 3 (grpc_health_probe's).
import t from "tap";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { startGrpcJsPeer } from "../client/fixtures/peers.ts";
import { spawnCli } from "../fixtures/run-cli.ts";
import { startServer } from "../fixtures/start-server.ts";

t.test("SERVING 0, NOT_SERVING 4, unknown service 3", async (t) => {
  const grpcJs = await startGrpcJsPeer({ "greet.GreetService": "SERVING" });
  const { server: ours } = await startServer(t, {}, { graceMs: 50 });
  ours.health.set("down.Service", ServingStatus.NotServing);
  t.teardown(async () => {
    await grpcJs.close();
  });
  const oursAddr = `127.0.0.1:${ours.port}`;

  const serving = await spawnCli(["check", "-addr", grpcJs.addr, "-service", "greet.GreetService"]);
  t.equal(serving.code, 0, "SERVING (grpc-js): 0");
  t.equal(serving.stdout, "status: SERVING\n");

  const notServing = await spawnCli([
    "check",
    "--addr",
    oursAddr,
    "--service=down.Service",
    "--protocol",
    "triple",
  ]);
  t.equal(notServing.code, 4, "NOT_SERVING (ours, triple): 4");
  t.match(notServing.stderr, 'service unhealthy (responded with "NOT_SERVING")');

  const unknown = await spawnCli(["check", `-addr=${oursAddr}`, "-service", "no.Such"]);
  t.equal(unknown.code, 3, "unknown service (ours, gRPC): 3");
  t.match(unknown.stderr, /error: health rpc failed: \[NOT_FOUND\]/);
});
