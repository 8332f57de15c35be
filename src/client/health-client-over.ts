// A health client over a call client given to it: what createHealthClient (health-client.ts) builds on, in a
// module of its own so that the probe's path (`check`) loads neither protobufjs nor undici. Check and Watch
// use the hand-written codec of their two messages; List, whose reply is a map, the protobufjs one.
import { checkRequestCodec, checkResponseCodec } from "../codec/health-check-codec.ts";
import {
  type HealthCheckRequest,
  type HealthCheckResponse,
  type HealthListRequest,
  type HealthListResponse,
  healthServiceName,
  type ServingStatus,
} from "../codec/health-types.ts";
import type { CallClient, CallClientOptions } from "./call-client-over.ts";
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
  input: checkRequestCodec,
  output: checkResponseCodec,
};
const watch: MethodRef<HealthCheckRequest, HealthCheckResponse> = { ...check, method: "Watch" };

/** The List method; its codecs are protobufjs's (health-codecs.ts). @internal */
export type HealthListMethod = MethodRef<HealthListRequest, HealthListResponse>;

/**
 * A health client over `calls`. `list` is the List method's reference; without it, the first `list()`
 * imports it (protobufjs and health.proto) before its call starts, outside the call's deadline.
 * @internal
 */
export function healthClientOver(calls: CallClient, list?: HealthListMethod): HealthClient {
  let listMethod: HealthListMethod | Promise<HealthListMethod> | undefined = list;
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
      listMethod ??= import("../codec/health-codecs.ts").then(({ healthCodecs }) => ({
        service: healthServiceName,
        method: "List",
        input: healthCodecs.listRequest,
        output: healthCodecs.listResponse,
      }));
      const response = await calls.unary(await listMethod, {}, callOptions);
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
