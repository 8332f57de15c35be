/**
 * triple-health: Dubbo triple, gRPC, gRPC-Web and Connect health checking (`grpc.health.v1.Health`)
 * directly on node:http2. Anything not exported here is internal.
 */

// client: health client and the generic call layer
export {
  type CallClient,
  type CallClientOptions,
  type ClientProtocol,
  createCallClient,
  parseTarget,
} from "./client/call-client.ts";
export type { CallOptions, MetadataInit, MethodRef } from "./client/call-options.ts";
export type { CallTrace, CallTraceEvent } from "./client/call-trace.ts";
// routing by health: an endpoint picker fed by Watch, and a forwarding proxy
export {
  type CallOutcome,
  createEndpointPicker,
  EndpointPicker,
  type EndpointPickerOptions,
  type EndpointSnapshot,
  type PickedEndpoint,
  type PickPolicy,
} from "./client/endpoint-picker.ts";
export {
  type EndpointSource,
  type EndpointSourceListener,
  ManualEndpointSource,
} from "./client/endpoint-source.ts";
export {
  createHealthClient,
  type HealthCallOptions,
  type HealthClient,
  type HealthClientOptions,
} from "./client/health-client.ts";
export type { RemoteHealthSource } from "./client/health-follower.ts";
export type { TransportOptions } from "./client/http-transport.ts";
export type { OutlierOptions } from "./client/outlier-detector.ts";
export type { BackoffOptions } from "./client/picker-backoff.ts";
export type { PickerEvent, PickerListener } from "./client/picker-events.ts";
// a remote server's health as a check of this one
export { type RemoteHealthCheckOptions, remoteHealthCheck } from "./client/remote-health-check.ts";
export type { ClientTlsOptions } from "./client/tls-options.ts";
export { connectFailureKind } from "./client/transport-errors.ts";
// time for checks, the picker and the follower (FakeClock is in "triple-health/testing")
export { type Clock, systemClock, type TimerHandle } from "./clock.ts";
export { healthCodecs } from "./codec/health-codecs.ts";
// codec: protobufjs message types with the proto3 JSON mapping
export {
  type HealthCheckRequest,
  type HealthCheckResponse,
  type HealthListRequest,
  type HealthListResponse,
  healthServiceName,
  parseServingStatus,
  ServingStatus,
  servingStatusName,
} from "./codec/health-types.ts";
export { type CodecName, createMessageCodec, type MessageCodec } from "./codec/message-codec.ts";
export { loadProtoFiles, protoDir } from "./codec/proto-files.ts";
// the providers of a Dubbo service key in ZooKeeper, as an EndpointSource for the picker and the proxy
export {
  type DiscoveredProvider,
  type DiscoveryEvent,
  type DiscoveryLevels,
  type DiscoveryStats,
  type DiscoveryZooKeeper,
  ProviderDiscovery,
  type ProviderDiscoveryOptions,
} from "./discovery/provider-discovery.ts";
// discovery: what a server registered (createTripleServer({ registry }))
export type { RegisterMode, RegistrationEvent, RegistrationSnapshot } from "./discovery/registration.ts";
// health: the status registry, the Health service, checks, drain, admin and probe endpoints
export * from "./health/index.ts";
// host: the server (services + health) and the proxy on one lifecycle: listen, drain, graceful close
export { type CloseOptions, defaultGraceMs } from "./host/host-base.ts";
export { instrumentHost } from "./host/host-metrics.ts";
export { MetricsListener } from "./host/metrics-listener.ts";
export { instrumentProxy } from "./host/proxy-metrics.ts";
export { createTripleProxy, TripleProxy, type TripleProxyOptions } from "./host/triple-proxy.ts";
export { createTripleServer, TripleServer, type TripleServerOptions } from "./host/triple-server.ts";
export {
  createTripleTap,
  type TapCallHead,
  type TapObserver,
  TripleTap,
  type TripleTapOptions,
} from "./host/triple-tap.ts";
// metrics: counters, gauges, histograms and collectors, as Prometheus text or OpenMetrics
export {
  type ExpositionFormat,
  expositionContentType,
  negotiateExposition,
  renderMetrics,
} from "./metrics/exposition.ts";
export {
  type CollectedFamily,
  type CollectedSample,
  CounterSeries,
  defaultSecondsBuckets,
  GaugeSeries,
  HistogramSeries,
  type MetricCollector,
  MetricFamily,
  MetricRegistry,
  type MetricType,
} from "./metrics/metric-registry.ts";
export { addProcessMetrics } from "./metrics/process-metrics.ts";
export type { ProxyStats } from "./proxy/forwarded-call.ts";
export type { UpstreamConnectionOptions } from "./proxy/upstream-sessions.ts";
// server: one port for h2c, HTTP/1.1 and TLS; an embeddable handler; services without a framework
export type { CorsOptions } from "./server/cors.ts";
export { defineService } from "./server/define-service.ts";
export { createMetricsHandler, defaultMetricsPath } from "./server/metrics-handler.ts";
export type { ConnectionOptions, Http1Options, Http2Options } from "./server/options.ts";
export type { TlsOptions } from "./server/port-listener.ts";
export type { ExportInfo, ServiceExport } from "./server/router.ts";
export { createRpcHandler, RpcHandler, type RpcHandlerOptions } from "./server/rpc-handler.ts";
export type * from "./server/service-types.ts";
// wire: framing, status codes, errors, timeouts, metadata, compression (also at "triple-health/wire")
export * from "./wire/index.ts";
