// The health messages' types and status names, with no codec: the probe's path (`check`) imports these
// without loading protobufjs (the codecs are in health-codecs.ts and health-check-codec.ts).

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
