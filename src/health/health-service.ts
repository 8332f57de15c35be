import { healthCodecs } from "../codec/health-codecs.ts";
import {
  type HealthCheckRequest,
  type HealthCheckResponse,
  type HealthListRequest,
  type HealthListResponse,
  ServingStatus,
} from "../codec/health-types.ts";
import type { MetricRegistry } from "../metrics/metric-registry.ts";
import {
  isHoldable,
  type ServerStreamingMethod,
  type ServiceMethods,
  type UnaryMethod,
} from "../server/service-types.ts";
import { Code } from "../wire/code.ts";
import { ConfigError } from "../wire/config-error.ts";
import { RpcError } from "../wire/rpc-error.ts";
import type { HealthRegistry } from "./registry.ts";
import { WatchSlots } from "./watch-slots.ts";
import { WatchHub, WatchStream } from "./watch-stream.ts";

/** Options of {@link createHealthService}: List's limits and per-connection Watch limits. */
export interface HealthServiceOptions {
  /** Most services List answers with; more → RESOURCE_EXHAUSTED (gRPC proposal A90 suggests 100). */
  listLimit?: number;
  /** List answers UNIMPLEMENTED when false, for servers that do not want to reveal their service names. */
  listEnabled?: boolean;
  /**
   * Most Watch streams one connection may hold; more → RESOURCE_EXHAUSTED. The registry's `maxWatchers`
   * bounds the total. Default 100, and at most half the port's HTTP/2 `maxConcurrentStreams` (256 by
   * default): the rest is room for unary calls beside the Watch streams. A server or proxy refuses a
   * value not below `maxConcurrentStreams` (ConfigError).
   */
  maxWatchersPerConnection?: number;
  /**
   * Most Watch streams one client address may hold, over all its connections (an IPv6 client counts by
   * its /64); more → RESOURCE_EXHAUSTED. Default: half the registry's `maxWatchers`, so one client cannot
   * take every slot. Clients that all arrive from one address (behind a sidecar proxy or a NAT) share
   * it: raise it to `maxWatchers`, or `Infinity` to turn it off.
   */
  maxWatchersPerAddress?: number;
  /** Where `triple_health_watch_streams_refused_total` counts Watch streams refused by a limit. */
  metrics?: MetricRegistry;
}

/** Default for {@link HealthServiceOptions.maxWatchersPerAddress}: half of `maxWatchers`. */
export function defaultMaxWatchersPerAddress(maxWatchers: number): number {
  return Math.max(1, Math.floor(maxWatchers / 2));
}

/** Default for {@link HealthServiceOptions.maxWatchersPerConnection}. */
export const defaultMaxWatchersPerConnection = 100;

/**
 * The Watch streams one connection may hold beside `maxConcurrentStreams` streams in all: `configured`
 * when given (it must be below, so that unary calls fit: issue 14 item 5), otherwise the default, capped
 * at half the streams.
 * @internal
 */
export function watchersPerConnection(configured: number | undefined, maxConcurrentStreams: number): number {
  if (configured === undefined)
    return Math.min(defaultMaxWatchersPerConnection, Math.max(1, Math.floor(maxConcurrentStreams / 2)));
  if (configured >= maxConcurrentStreams)
    throw new ConfigError(
      `healthService.maxWatchersPerConnection (${configured}) must be below http2.maxConcurrentStreams ` +
        `(${maxConcurrentStreams}): unary calls need room beside the Watch streams`,
    );
  return configured;
}

/** Default for {@link HealthServiceOptions.listLimit}. */
export const defaultListLimit = 100;

// The four replies a status can be, made once: Check, Watch and List answer with these objects, which
// the engine only encodes (from cached bytes), so an answer allocates no message.
const replies: readonly Readonly<HealthCheckResponse>[] = [
  ServingStatus.Unknown,
  ServingStatus.Serving,
  ServingStatus.NotServing,
  ServingStatus.ServiceUnknown,
].map((status) => Object.freeze({ status }));

function reply(status: ServingStatus): HealthCheckResponse {
  return replies[status] ?? { status };
}

/**
 * The `grpc.health.v1.Health` methods over a registry, answering like grpc-go's health server:
 *
 * - `Check`: the service's status; NOT_FOUND `unknown service` for one not registered (the name is not
 *   echoed back, it may be huge). `""` is the whole server.
 * - `Watch`: the current status at once (SERVICE_UNKNOWN for an unregistered service, and it keeps
 *   watching), then every change, latest-value coalesced for a slow reader; runs until the call ends.
 *   Once the registry is shut down it stays open on NOT_SERVING, as grpc-go's does: its host ends it after
 *   GOAWAY, so a client re-opening it goes to a new connection.
 * - `List`: every registered service; RESOURCE_EXHAUSTED above `listLimit`, UNIMPLEMENTED when disabled.
 */
export function createHealthService(
  registry: HealthRegistry,
  options: HealthServiceOptions = {},
): ServiceMethods {
  const listLimit = options.listLimit ?? defaultListLimit;
  const listEnabled = options.listEnabled ?? true;
  const slots = new WatchSlots(
    options.maxWatchersPerConnection ?? defaultMaxWatchersPerConnection,
    options.maxWatchersPerAddress ?? defaultMaxWatchersPerAddress(registry.maxWatchers),
  );
  const hub = new WatchHub(registry, slots, reply);
  const refused = options.metrics
    ?.counter(
      "triple_health_watch_streams_refused_total",
      "Health Watch streams refused by a watcher limit (per connection, per client address, or in total).",
    )
    .labels();

  const check: UnaryMethod<HealthCheckRequest, HealthCheckResponse> = {
    kind: "unary",
    input: healthCodecs.checkRequest,
    output: healthCodecs.checkResponse,
    handler(request) {
      const status = registry.get(request.service);
      if (status === undefined) throw new RpcError(Code.NotFound, "unknown service");
      return reply(status);
    },
  };

  const watch: ServerStreamingMethod<HealthCheckRequest, HealthCheckResponse> = {
    kind: "server_streaming",
    input: healthCodecs.checkRequest,
    output: healthCodecs.checkResponse,
    handler(request, call) {
      if (!isHoldable(call)) throw new RpcError(Code.Internal, "Watch needs a call that can be held open");
      // After shutdown the stream stays open on NOT_SERVING: ended here, grpc-go's health client (which
      // skips its backoff after any message) would re-open it at once on the same connection, over and over
      // until GOAWAY. The host ends it after GOAWAY (issue 14 item 4).
      try {
        WatchStream.open(hub, call, request.service);
      } catch (error) {
        if (refused !== undefined && error instanceof RpcError && error.code === Code.ResourceExhausted)
          refused.inc();
        throw error;
      }
    },
  };

  const list: UnaryMethod<HealthListRequest, HealthListResponse> = {
    kind: "unary",
    input: healthCodecs.listRequest,
    output: healthCodecs.listResponse,
    handler() {
      if (!listEnabled) throw new RpcError(Code.Unimplemented, "List is disabled on this server");
      if (registry.size > listLimit)
        throw new RpcError(
          Code.ResourceExhausted,
          `server health list exceeds maximum capacity: ${listLimit}`,
        );
      const statuses: Record<string, HealthCheckResponse> = {};
      for (const [service, status] of registry.list()) statuses[service] = reply(status);
      return { statuses };
    },
  };

  return { Check: check, Watch: watch, List: list };
}
