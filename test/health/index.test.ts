import t from "tap";
import * as health from "../../src/health/index.ts";

t.test("the health layer's public surface", async (t) => {
  t.same(Object.keys(health).sort(), [
    "AdminRequestError",
    "HealthCheckRunner",
    "HealthRegistry",
    "addDependency",
    "createAdminClient",
    "createAdminHandler",
    "createHealthService",
    "createProbeHandler",
    "defaultEventHeartbeatMs",
    "defaultExecOutputBytes",
    "defaultListLimit",
    "defaultMaxEventStreams",
    "defaultMaxWatchers",
    "defaultMaxWatchersPerConnection",
    "eventLoopDelayCheck",
    "execCheck",
    "heapCheck",
    "httpCheck",
    "installSignalHandlers",
    "instrumentCheck",
    "instrumentHealth",
    "maxChangeSeries",
    "serviceKey",
    "tcpCheck",
  ]);
  t.equal(health.defaultMaxWatchers, 10_000);
  t.equal(health.defaultListLimit, 100);
  t.equal(health.defaultMaxWatchersPerConnection, 100);
  t.equal(health.defaultMaxEventStreams, 8);
  t.equal(health.defaultEventHeartbeatMs, 15_000);
});
