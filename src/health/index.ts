// The health layer's public surface: registry, the grpc.health.v1.Health service, checks, drain and
// signals, probes and the admin surface.

export type { AdminChange, StatusSource } from "./admin-changes.ts";
export {
  type AdminClient,
  type AdminClientOptions,
  type AdminHealthReport,
  AdminRequestError,
  type AdminServiceStatus,
  createAdminClient,
} from "./admin-client.ts";
export {
  type AdminHandlerOptions,
  createAdminHandler,
  defaultEventHeartbeatMs,
  defaultMaxEventStreams,
} from "./admin-handler.ts";
export {
  type EventLoopDelayCheckOptions,
  eventLoopDelayCheck,
  type HeapCheckOptions,
  type HeapUsage,
  type HttpCheckOptions,
  heapCheck,
  httpCheck,
  type TcpCheckOptions,
  tcpCheck,
} from "./builtin-checks.ts";
export {
  type CheckFunction,
  type CheckProbe,
  type CheckRunnerOptions,
  type CheckState,
  type HealthCheck,
  HealthCheckRunner,
} from "./checks.ts";
export { addDependency } from "./dependencies.ts";
export { defaultExecOutputBytes, type ExecCheckOptions, execCheck } from "./exec-check.ts";
export { instrumentCheck, instrumentHealth, maxChangeSeries } from "./health-metrics.ts";
export {
  createHealthService,
  defaultListLimit,
  defaultMaxWatchersPerConnection,
  type HealthServiceOptions,
} from "./health-service.ts";
export { createProbeHandler, type ProbeHandlerOptions } from "./probe-handler.ts";
export {
  defaultMaxWatchers,
  type HealthChangeEvent,
  type HealthChangeListener,
  type HealthModeListener,
  HealthRegistry,
  type HealthRegistryMode,
  type HealthRegistryOptions,
  type ServiceHealthSnapshot,
} from "./registry.ts";
export { serviceKey } from "./service-key.ts";
export {
  type GracefullyClosable,
  installSignalHandlers,
  type SignalHandlerOptions,
  type SignalHandlers,
} from "./signals.ts";
