import { ServingStatus, servingStatusName } from "../codec/health-types.ts";
import type { CheckProbe } from "../health/checks.ts";
import { HealthFollower, type RemoteHealthSource } from "./health-follower.ts";

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
 * run by a `HealthCheckRunner`), so thresholds count it without waiting for the interval. Until the stream
 * has delivered a status, or after it broke (it is reopened at the next attempt), the attempt asks with
 * Check. A server without Watch (UNIMPLEMENTED) is asked with Check from then on.
 */
export function remoteHealthCheck(options: RemoteHealthCheckOptions): CheckProbe {
  const { client } = options;
  const service = options.service ?? "";
  let rerun: (() => void) | undefined;
  // No backoff: a lost stream is reopened by the next attempt, so the runner's interval paces it.
  const follower =
    (options.mode ?? "watch") === "watch"
      ? new HealthFollower(
          client,
          service,
          {},
          {
            // Judge the news now rather than at the next interval.
            onStatus: () => rerun?.(),
            // The stream ended or broke: the next attempt asks with Check and reopens it.
            onLost: () => {},
          },
        )
      : undefined;

  const judge = (status: ServingStatus) => {
    if (status !== ServingStatus.Serving)
      throw new Error(`remote service ${JSON.stringify(service)} is ${servingStatusName(status)}`);
  };

  return {
    name: options.name ?? `remote ${service === "" ? "server" : service}`,
    async run(signal) {
      if (follower !== undefined) {
        follower.follow();
        const latest = follower.status;
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
      follower?.close();
    },
  };
}
