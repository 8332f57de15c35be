import type { MessageCodec } from "../codec/message-codec.ts";
import { Code } from "../wire/code.ts";
import { type Metadata, RpcError } from "../wire/rpc-error.ts";

/** A method to call: its path parts and the codecs of its messages. */
export interface MethodRef<I extends object, O extends object> {
  /** `grpc.health.v1.Health` */
  readonly service: string;
  /** `Check` */
  readonly method: string;
  /** Encodes the request (proto or JSON, whichever the client's codec is). */
  readonly input: MessageCodec<I>;
  /** Decodes the response messages. */
  readonly output: MessageCodec<O>;
}

/** Request metadata: a `Metadata` map or a plain object; keys are lower-cased, `-bin` values base64. */
export type MetadataInit = Metadata | Record<string, string | readonly string[]>;

/** Per-call settings. */
export interface CallOptions {
  /**
   * Deadline in ms from now, sent as `grpc-timeout` / `Connect-Timeout-Ms` + `Triple-Timeout-Ms` and enforced
   * locally. 0 (or less) is a deadline already passed, not "no deadline": the call fails at once with
   * DEADLINE_EXCEEDED and sends nothing. Leave it out for no deadline.
   */
  timeoutMs?: number;
  /** Extra request headers. */
  metadata?: MetadataInit;
  /** Cancels the call. */
  signal?: AbortSignal;
  /** Receives the response headers as metadata. */
  onHeader?: (metadata: Metadata) => void;
  /** Receives the trailers as metadata (on success; an error carries them in `RpcError.metadata`). */
  onTrailer?: (metadata: Metadata) => void;
}

/**
 * Metadata from what a caller may pass (a `Metadata` map as is; keys of a plain object lower-cased).
 * @internal
 */
export function toMetadata(init: MetadataInit | undefined): Metadata {
  if (init === undefined) return new Map();
  if (init instanceof Map) return init;
  const out: Metadata = new Map();
  for (const [key, value] of Object.entries(init)) {
    const values = typeof value === "string" ? [value] : [...value];
    out.set(key.toLowerCase(), [...(out.get(key.toLowerCase()) ?? []), ...values]);
  }
  return out;
}

/**
 * One signal for a call: the caller's signal plus the deadline. `error()` tells why it fired:
 * DEADLINE_EXCEEDED for the deadline, CANCELLED (or the caller's RpcError reason) otherwise.
 * @internal
 */
export class CallSignal {
  readonly signal: AbortSignal;
  readonly #controller = new AbortController();
  readonly #timer: NodeJS.Timeout | undefined;
  readonly #user: AbortSignal | undefined;
  readonly #onUserAbort: (() => void) | undefined;
  #deadlineHit = false;

  constructor(
    user: AbortSignal | undefined,
    readonly timeoutMs: number | undefined,
  ) {
    this.signal = this.#controller.signal;
    this.#user = user;
    if (user !== undefined) {
      this.#onUserAbort = () => this.#controller.abort(user.reason);
      if (user.aborted) this.#onUserAbort();
      else user.addEventListener("abort", this.#onUserAbort, { once: true });
    }
    // A deadline of zero or less has passed already: the call fails now with DEADLINE_EXCEEDED and is
    // never sent (as grpc-go's client does), rather than racing a zero-delay timer. Past 2^31 - 1 ms Node
    // would fire the timer after 1 ms: such a deadline is no deadline locally (it is still sent to the server).
    if (timeoutMs !== undefined && timeoutMs <= 0 && !this.signal.aborted) {
      this.#deadlineHit = true;
      this.#controller.abort(new RpcError(Code.DeadlineExceeded, `deadline of ${timeoutMs} ms exceeded`));
    } else if (timeoutMs !== undefined && timeoutMs <= 2_147_483_647 && !this.signal.aborted) {
      this.#timer = setTimeout(() => {
        this.#deadlineHit = true;
        this.#controller.abort(new RpcError(Code.DeadlineExceeded, `deadline of ${timeoutMs} ms exceeded`));
      }, timeoutMs);
    }
  }

  /** True when the caller (not the deadline) cancelled. */
  get cancelledByCaller(): boolean {
    return this.signal.aborted && !this.#deadlineHit;
  }

  error(): RpcError {
    const reason: unknown = this.signal.reason;
    if (reason instanceof RpcError) return reason;
    return new RpcError(Code.Canceled, "call cancelled", { cause: reason });
  }

  /** The error to report for `error` thrown while the call ran: the abort's reason wins. */
  translate(error: unknown): RpcError {
    if (this.signal.aborted) return this.error();
    return RpcError.from(error, Code.Internal);
  }

  /** Ends the call: clears the timer and cancels the exchange if it is still open (an error, an early break). */
  dispose(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (!this.signal.aborted) this.#controller.abort(new RpcError(Code.Canceled, "call ended"));
    if (this.#onUserAbort !== undefined) this.#user?.removeEventListener("abort", this.#onUserAbort);
  }
}

/**
 * A response message that does not decode is the server's fault: INTERNAL, not INVALID_ARGUMENT.
 * @internal
 */
export function decodeResponse<O extends object>(
  codec: MessageCodec<O>,
  bytes: Uint8Array,
  name: "proto" | "json",
): O {
  try {
    return codec.decode(bytes, name);
  } catch (cause) {
    const message = cause instanceof RpcError ? cause.rawMessage : String(cause);
    throw new RpcError(Code.Internal, `invalid response message: ${message}`, { cause });
  }
}
