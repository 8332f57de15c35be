import t from "tap";
import * as api from "../src/index.ts";
import * as wire from "../src/wire/index.ts";

t.test("the public entry point exposes every layer's API", async (t) => {
  for (const name of [
    "Code",
    "RpcError",
    "ConfigError",
    "EnvelopeDecoder",
    "encodeEnvelope",
    "parseGrpcTimeout",
    "findCompression",
    "healthCodecs",
    "ServingStatus",
    "createMessageCodec",
    "loadProtoFiles",
    "createTripleServer",
    "createRpcHandler",
    "defineService",
    "HealthRegistry",
    "createHealthService",
    "HealthCheckRunner",
    "installSignalHandlers",
    "createAdminHandler",
    "createProbeHandler",
    "createHealthClient",
    "createCallClient",
    "createEndpointPicker",
    "remoteHealthCheck",
    "systemClock",
    "createTripleProxy",
    "createTripleTap",
    "serviceKey",
    "ManualEndpointSource",
    "ProviderDiscovery",
    "MetricRegistry",
    "renderMetrics",
    "createMetricsHandler",
    "instrumentHealth",
    "instrumentCheck",
    "instrumentHost",
    "instrumentProxy",
    "MetricsListener",
  ]) {
    t.ok(name in api, name);
  }
  t.notOk("FakeClock" in api, "test helpers are at triple-health/testing, not here");
  t.equal(api.Code, wire.Code, "the wire entry point shares the same objects");
  t.equal(wire.envelopeEagerBytes, 4096, "the eager-allocation bound is public");
});

t.test("a server and a client from the entry point talk to each other", async (t) => {
  const server = api.createTripleServer();
  const { port } = await server.listen(0, "127.0.0.1");
  t.teardown(() => server.close({ graceMs: 0 }));
  const client = api.createHealthClient(`http://127.0.0.1:${port}`, { timeoutMs: 5000 });
  t.teardown(() => client.close());
  t.equal(await client.check(""), api.ServingStatus.Serving);
});
