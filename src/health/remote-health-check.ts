import { ServingStatus, servingStatusName } from "../codec/health-types.ts";
import { Code } from "../wire/code.ts";
import { RpcError } from "../wire/rpc-error.ts";
import type { CheckProbe } from "./checks.ts";

/**
 * What the probe needs of a health client: `createHealthClient(url)` from the client layer fits.
 * (Typed structurally so `health/` does not import `client/`, which comes after it in the layers.)
 */
export interface RemoteHealthSource {
  /** One `grpc.health.v1.Health/Check` of `service`, for `mode: "check"`. */
  check(service: string, options?: { signal?: AbortSignal; timeoutMs?: number }): Promise<ServingStatus>;
  /**
   * A `grpc.health.v1.Health/Watch` stream of `service`, for `mode: "watch"`; ends when the signal aborts.
   */
  watch(service: string, options?: { signal?: AbortSignal }): AsyncIterable<ServingStatus>;
}

/** Options of {@link remoteHealthCheck}: which server and service to follow, and how. */
export interface RemoteHealthCheckOptions {
  /** e.g. `createHealthClient("http://10.0.0.5:50051")`; the caller closes it. */
  client: RemoteHealthSource;
  /** The remote service; `""` (default) is the remote server as a whole. */
  service?: string;
  /** Keep a Watch stream open and judge by its latest status (default), or Check at every attempt. */
  mode?: "watch" | "check";
  /** The check's name. Default `remote <service>`, or `remote server` for `""`. */
  name?: string;
}

/**
 * The health of another gRPC/triple server as a check: passes while the remote service is SERVING.
 *
 * In `watch` mode (the default) one Watch stream stays open and each attempt reads the latest status
 * it delivered — no request per interval; each change the stream brings starts an attempt at once (when
 * run by a {@link HealthCheckRunner}), so thresholds count it without waiting for the interval. Until the stream
 * has delivered a status, or after it broke (it is reopened at the next attempt), the attempt asks with
 * Check. A server without Watch (UNIMPLEMENTED) is asked with Check from then on.
 */
export function remoteHealthCheck(options: RemoteHealthCheckOptions): CheckProbe {
  const { client } = options;
  const service = options.service ?? "";
  let useWatch = (options.mode ?? "watch") === "watch";
  let stream: AbortController | undefined;
  let latest: ServingStatus | undefined;
  let closed = false;
  let rerun: (() => void) | undefined;

  const openWatch = () => {
    const controller = new AbortController();
    stream = controller;
    latest = undefined;
    void (async () => {
      try {
        for await (const status of client.watch(service, { signal: controller.signal })) {
          const changed = status !== latest;
          latest = status;
          // Judge the news now rather than at the next interval.
          if (changed) rerun?.();
        }
        // The server ended the stream: it knows nothing more to say; ask again next time.
      } catch (error) {
        if (error instanceof RpcError && error.code === Code.Unimplemented) useWatch = false;
      }
      if (stream === controller) {
        stream = undefined;
        latest = undefined;
      }
    })();
  };

  const judge = (status: ServingStatus) => {
    if (status !== ServingStatus.Serving)
      throw new Error(`remote service ${JSON.stringify(service)} is ${servingStatusName(status)}`);
  };

  return {
    name: options.name ?? `remote ${service === "" ? "server" : service}`,
    async run(signal) {
      if (useWatch && !closed) {
        if (stream === undefined) openWatch();
        if (latest !== undefined) return judge(latest);
      }
      let status: ServingStatus;
      try {
        status = await client.check(service, { signal });
      } catch (error) {
        throw new Error(
          `remote check of ${JSON.stringify(service)} failed: ${error instanceof Error ? error.message : String(error)}`,
          {
            cause: error,
          },
        );
      }
      judge(status);
    },
    subscribe(callback) {
      rerun = callback;
      return () => {
        rerun = undefined;
      };
    },
    close() {
      closed = true;
      stream?.abort();
      stream = undefined;
    },
  };
}
