import {
  type HealthCheckRequest,
  type HealthCheckResponse,
  type HealthListRequest,
  type HealthListResponse,
  healthCodecs,
  healthServiceName,
  type ServingStatus,
} from "../codec/health-types.ts";
import { type CallClient, type CallClientOptions, createCallClient } from "./call-client.ts";
import type { CallOptions, MethodRef } from "./call-options.ts";

/** Options of `createHealthClient`: protocol, codec, HTTP version, default deadline, metadata, TLS, tracing. */
export type HealthClientOptions = CallClientOptions;

/** Per-call options: deadline, metadata, cancellation. */
export type HealthCallOptions = Pick<
  CallOptions,
  "timeoutMs" | "metadata" | "signal" | "onHeader" | "onTrailer"
>;

/** A client of `grpc.health.v1.Health`. Every failure is an `RpcError`. */
export interface HealthClient {
  /** The underlying call layer (same connection), for other methods. */
  readonly calls: CallClient;
  /**
   * The status of `service` (`""`, the default, is the whole server).
   * @throws RpcError NOT_FOUND for a service the server does not know.
   */
  check(service?: string, options?: HealthCallOptions): Promise<ServingStatus>;
  /**
   * The current status at once, then every change. Ends (without an error) when `options.signal`
   * aborts, when the iterator's `return()` is called, or when the server ends the stream with OK.
   */
  watch(service?: string, options?: HealthCallOptions): AsyncIterableIterator<ServingStatus>;
  /** Every service's status (the `List` method). */
  list(options?: HealthCallOptions): Promise<Map<string, ServingStatus>>;
  /** Opens the connection now, so that connection failures show apart from call failures. */
  connect(options?: { signal?: AbortSignal }): Promise<void>;
  /** Closes the connection; running watches end. */
  close(): Promise<void>;
}

const check: MethodRef<HealthCheckRequest, HealthCheckResponse> = {
  service: healthServiceName,
  method: "Check",
  input: healthCodecs.checkRequest,
  output: healthCodecs.checkResponse,
};
const watch: MethodRef<HealthCheckRequest, HealthCheckResponse> = { ...check, method: "Watch" };
const list: MethodRef<HealthListRequest, HealthListResponse> = {
  service: healthServiceName,
  method: "List",
  input: healthCodecs.listRequest,
  output: healthCodecs.listResponse,
};

/**
 * Creates a health client for a server at `url` (`http://host:port`, `https://host:port`, `host:port`
 * or `tri://host:port`). One HTTP/2 session is opened on the first call and reused; `close()` closes it.
 *
 * ```ts
 * const client = createHealthClient("http://127.0.0.1:20000", { protocol: "triple", timeoutMs: 1000 });
 * const status = await client.check("greet.GreetService"); // ServingStatus.Serving
 * ```
 * @throws ConfigError for a bad address or option (gRPC over HTTP/1.1).
 */
export function createHealthClient(url: string, options: HealthClientOptions = {}): HealthClient {
  const calls = createCallClient(url, options);
  return {
    calls,
    async check(service = "", callOptions = {}) {
      const response = await calls.unary(check, { service }, callOptions);
      return response.status;
    },
    watch(service = "", callOptions = {}) {
      return watchStatuses(calls, service, callOptions);
    },
    async list(callOptions = {}) {
      const response = await calls.unary(list, {}, callOptions);
      const out = new Map<string, ServingStatus>();
      for (const name of Object.keys(response.statuses ?? {}).sort()) {
        out.set(name, response.statuses[name]?.status ?? 0);
      }
      return out;
    },
    connect: (connectOptions) => calls.connect(connectOptions),
    close: () => calls.close(),
  };
}

async function* watchStatuses(
  calls: CallClient,
  service: string,
  options: HealthCallOptions,
): AsyncGenerator<ServingStatus, void, undefined> {
  try {
    for await (const response of calls.serverStream(watch, { service }, options)) yield response.status;
  } catch (error) {
    // Ending on the caller's abort is the normal way to stop watching, not a failure.
    if (options.signal?.aborted === true) return;
    throw error;
  }
}
