/**
 * gRPC status codes, their names in each dialect, and the HTTP status mappings that
 * triple/Connect unary errors and non-200 responses rely on.
 */
export enum Code {
  Ok = 0,
  Canceled = 1,
  Unknown = 2,
  InvalidArgument = 3,
  DeadlineExceeded = 4,
  NotFound = 5,
  AlreadyExists = 6,
  PermissionDenied = 7,
  ResourceExhausted = 8,
  FailedPrecondition = 9,
  Aborted = 10,
  OutOfRange = 11,
  Unimplemented = 12,
  Internal = 13,
  Unavailable = 14,
  DataLoss = 15,
  Unauthenticated = 16,
}

// Indexed by code number; both tables are the protocols' own spellings.
const grpcNames = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
] as const;

const tripleNames = [
  "ok",
  "canceled",
  "unknown",
  "invalid_argument",
  "deadline_exceeded",
  "not_found",
  "already_exists",
  "permission_denied",
  "resource_exhausted",
  "failed_precondition",
  "aborted",
  "out_of_range",
  "unimplemented",
  "internal",
  "unavailable",
  "data_loss",
  "unauthenticated",
] as const;

// dubbo-go's tripleCodeToHTTP, which dubbo-js shares. Connect differs on four codes (canceled 499,
// deadline_exceeded 504, failed_precondition 400, unimplemented 501); its clients read the JSON body's
// code rather than the status, so the triple table serves both.
const httpStatuses = [
  200, 408, 500, 400, 408, 404, 409, 403, 429, 412, 409, 400, 404, 500, 503, 500, 401,
] as const;

/** True for the 17 codes gRPC defines. */
export function isCode(value: unknown): value is Code {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= 16;
}

/** `NOT_FOUND` — the name gRPC tooling prints. */
export function grpcCodeName(code: Code): string {
  return grpcNames[code] ?? "UNKNOWN";
}

/** `not_found` — the string `code` of triple and Connect error bodies. */
export function tripleCodeName(code: Code): string {
  return tripleNames[code] ?? "unknown";
}

/** Reads a triple/Connect string code (`"not_found"`); `cancelled` is accepted as gRPC spells it. */
export function codeFromTripleName(name: string): Code | undefined {
  if (name === "cancelled") return Code.Canceled;
  const index = (tripleNames as readonly string[]).indexOf(name);
  return index > 0 ? (index as Code) : undefined;
}

/** HTTP status of a triple/Connect unary error with this code. */
export function httpStatusFromCode(code: Code): number {
  return httpStatuses[code] ?? 500;
}

/**
 * The code a client infers from a non-200 HTTP response that carries no usable error body
 * (dubbo-go's `tripleHTTPToCode`; other statuses, e.g. 409 and 415, are UNKNOWN as there).
 */
export function codeFromHttpStatus(status: number): Code {
  switch (status) {
    case 400:
      return Code.InvalidArgument;
    case 401:
      return Code.Unauthenticated;
    case 403:
      return Code.PermissionDenied;
    case 404:
      return Code.Unimplemented;
    case 408:
      return Code.DeadlineExceeded;
    case 412:
      return Code.FailedPrecondition;
    case 413:
    case 431:
      return Code.ResourceExhausted;
    // 429 is "try again later", not "too big": gRPC's http-grpc-status-mapping.md, dubbo-go's
    // tripleHTTPToCode and dubbo-js all read it as UNAVAILABLE.
    case 429:
    case 502:
    case 503:
    case 504:
      return Code.Unavailable;
    default:
      return Code.Unknown;
  }
}
