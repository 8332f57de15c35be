import { Code } from "./code.ts";
import { ConfigError } from "./config-error.ts";
import { quotePeerText } from "./peer-text.ts";
import { RpcError } from "./rpc-error.ts";

/*
 * Error codes for a malformed timeout header (checked against the peers):
 * - `grpc-timeout`: grpc-go (http2_server.go, "malformed grpc-timeout") and grpc-js
 *   (server-interceptors.js, handleTimeoutHeader) answer INTERNAL; connect-es uses INVALID_ARGUMENT.
 *   This is gRPC's header, so we follow the gRPC reference implementations: INTERNAL.
 * - `Triple-Timeout-Ms` / `TRI-Service-Timeout` / `Connect-Timeout-Ms`: dubbo-go's triple protocol and
 *   connect-go/connect-es answer INVALID_ARGUMENT for anything but 1–10 ASCII digits.
 */

const grpcUnitMs: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1_000,
  m: 1,
  u: 0.001,
  n: 0.000_001,
};

const grpcTimeoutPattern = /^(\d{1,8})([HMSmun])$/;

/**
 * Parses `grpc-timeout` (1–8 digits then H, M, S, m, u or n) to milliseconds. Sub-millisecond
 * values are rounded up so that a positive timeout never becomes 0.
 * @throws RpcError INTERNAL for a malformed value.
 */
export function parseGrpcTimeout(value: string): number {
  const match = grpcTimeoutPattern.exec(value);
  if (match === null) throw new RpcError(Code.Internal, `invalid grpc-timeout value ${quotePeerText(value)}`);
  const amount = Number(match[1]);
  const unit = match[2]!;
  if (unit === "u") return Math.ceil(amount / 1_000);
  if (unit === "n") return Math.ceil(amount / 1_000_000);
  return amount * grpcUnitMs[unit]!;
}

const maxGrpcAmount = 99_999_999;

/**
 * Formats milliseconds as `grpc-timeout`, picking the finest unit whose amount fits 8 digits
 * (rounding up, so a deadline is never shortened). Negative values are sent as 0; values beyond
 * 99,999,999 hours are capped.
 */
export function formatGrpcTimeout(ms: number): string {
  if (Number.isNaN(ms)) throw new ConfigError("timeout must be a number");
  if (ms <= 0) return "0n";
  if (!Number.isInteger(ms)) {
    const nanos = Math.ceil(ms * 1_000_000);
    if (nanos <= maxGrpcAmount) return `${nanos}n`;
    const micros = Math.ceil(ms * 1_000);
    if (micros <= maxGrpcAmount) return `${micros}u`;
  }
  for (const unit of ["m", "S", "M", "H"] as const) {
    const amount = Math.ceil(ms / grpcUnitMs[unit]!);
    if (amount <= maxGrpcAmount) return `${amount}${unit}`;
  }
  return `${maxGrpcAmount}H`;
}

const timeoutMsPattern = /^\d{1,10}$/;
const maxTimeoutMs = 9_999_999_999;

/**
 * Parses the triple/Connect timeout header (`Triple-Timeout-Ms`, `TRI-Service-Timeout`,
 * `Connect-Timeout-Ms`): 1–10 ASCII digits of milliseconds.
 * @throws RpcError INVALID_ARGUMENT for anything else.
 */
export function parseTimeoutMs(value: string): number {
  if (!timeoutMsPattern.test(value)) {
    throw new RpcError(
      Code.InvalidArgument,
      `invalid timeout value ${quotePeerText(value)}: want 1-10 digits of milliseconds`,
    );
  }
  return Number(value);
}

/** Formats milliseconds for the triple/Connect timeout header (rounded up, capped at 10 digits, never negative). */
export function formatTimeoutMs(ms: number): string {
  if (Number.isNaN(ms)) throw new ConfigError("timeout must be a number");
  if (ms <= 0) return "0";
  return String(Math.min(Math.ceil(ms), maxTimeoutMs));
}
