import { frameOnce } from "../wire/envelope-encoder.ts";
import { createMessageCodec, type MessageCodec } from "./message-codec.ts";
import { loadProtoFiles } from "./proto-files.ts";

/** `grpc.health.v1.HealthCheckResponse.ServingStatus`. */
export enum ServingStatus {
  Unknown = 0,
  Serving = 1,
  NotServing = 2,
  /** Sent only by Watch, for a service the server does not know (yet). */
  ServiceUnknown = 3,
}

const statusNames = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"] as const;

/** `SERVING`, as the proto and the JSON mapping spell it. */
export function servingStatusName(status: ServingStatus): string {
  return statusNames[status] ?? "UNKNOWN";
}

/** Reads `SERVING` / `serving` / `1`; undefined for anything else. */
export function parseServingStatus(value: string | number): ServingStatus | undefined {
  if (typeof value === "number")
    return value >= 0 && value <= 3 && Number.isInteger(value) ? value : undefined;
  const index = (statusNames as readonly string[]).indexOf(value.toUpperCase());
  return index >= 0 ? (index as ServingStatus) : undefined;
}

/** The request of Check and Watch: the service asked about; `""` is the server as a whole. */
export interface HealthCheckRequest {
  service: string;
}
/** The reply of Check, and each message of Watch. */
export interface HealthCheckResponse {
  status: ServingStatus;
}
/** The request of List (gRPC proposal A90); it carries nothing. */
// biome-ignore lint/complexity/noBannedTypes: the request message has no fields
export type HealthListRequest = {};
/** The reply of List: every registered service with its status. */
export interface HealthListResponse {
  statuses: Record<string, HealthCheckResponse>;
}

/** The fully qualified name the health service is served under (`/grpc.health.v1.Health/Check`). */
export const healthServiceName = "grpc.health.v1.Health";

const root = loadProtoFiles("health.proto");

/**
 * The Check/Watch reply has four possible values: encode each once, so answering a Check or notifying
 * thousands of watchers costs no serialization, and frame each once (`frameOnce`), so that writing one
 * allocates no envelope either. The cached bytes are shared: never write into them.
 */
function withCachedReplies(codec: MessageCodec<HealthCheckResponse>): MessageCodec<HealthCheckResponse> {
  const statuses = [
    ServingStatus.Unknown,
    ServingStatus.Serving,
    ServingStatus.NotServing,
    ServingStatus.ServiceUnknown,
  ];
  const binary = statuses.map((status) => codec.encodeBinary({ status }));
  const json = statuses.map((status) => codec.encodeJson({ status }));
  for (const bytes of [...binary, ...json]) frameOnce(bytes);
  const cached: MessageCodec<HealthCheckResponse> = {
    ...codec,
    encode: (message, name) => (name === "json" ? cached.encodeJson(message) : cached.encodeBinary(message)),
    encodeBinary: (message) => binary[message.status] ?? codec.encodeBinary(message),
    encodeJson: (message) => json[message.status] ?? codec.encodeJson(message),
  };
  return cached;
}

/**
 * Codecs (binary and proto3 JSON) of the four health messages, loaded from `proto/health.proto`.
 * `checkResponse` hands out shared, cached bytes for the four statuses: never write into them.
 */
export const healthCodecs = {
  checkRequest: createMessageCodec<HealthCheckRequest>(root.lookupType("grpc.health.v1.HealthCheckRequest")),
  checkResponse: withCachedReplies(
    createMessageCodec<HealthCheckResponse>(root.lookupType("grpc.health.v1.HealthCheckResponse")),
  ),
  listRequest: createMessageCodec<HealthListRequest>(root.lookupType("grpc.health.v1.HealthListRequest")),
  listResponse: createMessageCodec<HealthListResponse>(root.lookupType("grpc.health.v1.HealthListResponse")),
} as const satisfies Record<string, MessageCodec<object>>;
