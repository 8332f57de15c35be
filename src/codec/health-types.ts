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

export interface HealthCheckRequest {
  service: string;
}
export interface HealthCheckResponse {
  status: ServingStatus;
}
// biome-ignore lint/complexity/noBannedTypes: the request message has no fields
export type HealthListRequest = {};
export interface HealthListResponse {
  statuses: Record<string, HealthCheckResponse>;
}

export const healthServiceName = "grpc.health.v1.Health";

const root = loadProtoFiles("health.proto");

export const healthCodecs = {
  checkRequest: createMessageCodec<HealthCheckRequest>(root.lookupType("grpc.health.v1.HealthCheckRequest")),
  checkResponse: createMessageCodec<HealthCheckResponse>(
    root.lookupType("grpc.health.v1.HealthCheckResponse"),
  ),
  listRequest: createMessageCodec<HealthListRequest>(root.lookupType("grpc.health.v1.HealthListRequest")),
  listResponse: createMessageCodec<HealthListResponse>(root.lookupType("grpc.health.v1.HealthListResponse")),
} as const satisfies Record<string, MessageCodec<object>>;
