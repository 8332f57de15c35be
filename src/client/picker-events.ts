import type { ServingStatus } from "../codec/health-types.ts";
import type { RpcError } from "../wire/rpc-error.ts";

/** Every change inside an {@link EndpointPicker}, in the order it happened; `time` is the picker clock's `now()`. */
export type PickerEvent =
  /**
   * An endpoint's reported status changed. `status` undefined means unknown: the endpoint has not
   * answered yet, or its health stream was lost for longer than the grace.
   */
  | {
      readonly type: "status";
      readonly endpoint: string;
      readonly previous: ServingStatus | undefined;
      readonly status: ServingStatus | undefined;
      readonly reason: string;
      readonly time: number;
    }
  /** The health stream (or, polling, a Check) answered after not doing so. */
  | { readonly type: "connected"; readonly endpoint: string; readonly time: number }
  /** The health stream ended or failed (or a Check failed); the last status holds for the grace. */
  | {
      readonly type: "disconnected";
      readonly endpoint: string;
      readonly error: RpcError | undefined;
      readonly time: number;
    }
  /** The next attempt to reopen the health stream, after `delayMs`; `error` is why the last one failed. */
  | {
      readonly type: "reconnect";
      readonly endpoint: string;
      readonly attempt: number;
      readonly delayMs: number;
      readonly error?: RpcError | undefined;
      readonly time: number;
    }
  /** Calls failed in a row: the endpoint takes no calls for `durationMs`. */
  | {
      readonly type: "ejected";
      readonly endpoint: string;
      readonly durationMs: number;
      readonly ejections: number;
      readonly time: number;
    }
  /** An ejection ended: its time ran out, or the endpoint came back on a new health stream. */
  | { readonly type: "restored"; readonly endpoint: string; readonly reason: string; readonly time: number }
  /** Panic mode began or ended: too few endpoints are healthy, so calls go to every reachable one. */
  | {
      readonly type: "panic";
      readonly active: boolean;
      readonly healthy: number;
      readonly total: number;
      readonly time: number;
    }
  /** The discovery source added an endpoint: it is followed from now on. */
  | { readonly type: "added"; readonly endpoint: string; readonly time: number }
  /**
   * The discovery source removed an endpoint: it takes no new calls; the `outstanding` calls on it finish.
   */
  | {
      readonly type: "removed";
      readonly endpoint: string;
      readonly outstanding: number;
      readonly time: number;
    }
  /** The discovery source gave an address the picker cannot use: skipped. */
  | { readonly type: "invalid"; readonly endpoint: string; readonly reason: string; readonly time: number }
  /** The discovery source lost its registry (`down`) or has it back; the endpoints stay as they were. */
  | { readonly type: "source"; readonly down: boolean; readonly reason: string; readonly time: number }
  /** The set of endpoints calls go to changed. */
  | {
      readonly type: "routable";
      readonly endpoints: readonly string[];
      readonly panic: boolean;
      readonly time: number;
    };

/** Receives every {@link PickerEvent} of a picker, synchronously, in order. */
export type PickerListener = (event: PickerEvent) => void;
