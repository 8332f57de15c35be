import type { MessageCodec } from "../codec/message-codec.ts";
import type { ContentTypeInfo } from "../protocol/content-type.ts";
import type { ProtocolWriter } from "../protocol/protocol-writer.ts";
import { Code } from "../wire/code.ts";
import { type Metadata, RpcError } from "../wire/rpc-error.ts";
import { accountOf, type BudgetHolder, type ConnectionAccount } from "./byte-budget.ts";
import type { RouteCallMetrics } from "./call-metrics.ts";
import { callTrailers, encodeResponse, writeStreamMessage } from "./call-response.ts";
import type { Exchange, ExchangeListener } from "./exchange.ts";
import type { CallOwner } from "./server-call.ts";
import type { HeldStream, StreamHolder } from "./service-types.ts";

/** What a {@link HeldCall} takes over from the call that ran its handler. @internal */
export interface HeldCallParts {
  readonly exchange: Exchange;
  readonly type: ContentTypeInfo;
  readonly output: MessageCodec<object>;
  readonly writer: ProtocolWriter;
  readonly owner: CallOwner;
  readonly holder: StreamHolder;
  readonly responseMetadata: Metadata | undefined;
  readonly trailerMetadata: Metadata | undefined;
  /** Absolute deadline (`Date.now()` ms), if the call has one. */
  readonly deadline: number | undefined;
  /** The route's call metrics, recorded when the call ends; with the call's start (`performance.now()`). */
  readonly metrics: RouteCallMetrics | undefined;
  readonly started: number;
}

/**
 * A server stream held open past its handler's return ({@link HoldableStreamCall.hold}): all the engine
 * keeps of the call from then on. The call that read the request and ran the handler hands its exchange,
 * its place among the owner's streams and its deadline over to this and is dropped: a Watch stream lives
 * for hours, 100,000 at a time, and this is a third of the size of a full call. It writes messages, hears
 * the transport (drain, close), ends the call (a failure, the deadline, the server closing, the byte
 * budget) and tells the holder when it ended.
 * @internal
 */
export class HeldCall implements ExchangeListener, BudgetHolder, HeldStream<object> {
  readonly #exchange: Exchange;
  readonly #type: ContentTypeInfo;
  readonly #output: MessageCodec<object>;
  readonly #writer: ProtocolWriter;
  readonly #owner: CallOwner;
  readonly #holder: StreamHolder;
  readonly #responseMetadata: Metadata | undefined;
  readonly #trailerMetadata: Metadata | undefined;
  #timer: NodeJS.Timeout | undefined = undefined;
  #done = false;
  #awaitingDrain = false;
  budgetBytes = 0;
  #account: ConnectionAccount | undefined = undefined;
  readonly #metrics: RouteCallMetrics | undefined;
  readonly #started: number;

  constructor(parts: HeldCallParts) {
    this.#metrics = parts.metrics;
    this.#started = parts.started;
    this.#exchange = parts.exchange;
    this.#type = parts.type;
    this.#output = parts.output;
    this.#writer = parts.writer;
    this.#owner = parts.owner;
    this.#holder = parts.holder;
    this.#responseMetadata = parts.responseMetadata;
    this.#trailerMetadata = parts.trailerMetadata;
    if (parts.deadline !== undefined)
      this.#timer = setTimeout(HeldCall.#onDeadline, Math.max(0, parts.deadline - Date.now()), this);
    parts.owner.trackStream(this);
  }

  write(message: object): boolean {
    if (this.#done) return false;
    const exchange = this.#exchange;
    const bytes = encodeResponse(this.#output, this.#type, message);
    if (bytes instanceof RpcError) {
      this.fail(bytes);
      return false;
    }
    try {
      if (writeStreamMessage(exchange, this.#writer, this.#type, this.#responseMetadata, bytes)) return true;
    } catch (error) {
      this.fail(error);
      return false;
    }
    // The transport pushes back: what it queues now counts against the budget until it drains.
    this.#account ??= accountOf(exchange.connection);
    this.#account?.set(this, exchange.queuedBytes);
    if (this.#done) return false;
    if (!this.#awaitingDrain) {
      this.#awaitingDrain = true;
      exchange.waitDrain();
    }
    return false;
  }

  /** Ends the call with `reason` (a failure, the deadline, the server closing), in the call's protocol. */
  fail(reason: unknown): void {
    if (this.#done) return;
    const error = RpcError.from(reason);
    this.#metrics?.record(this.#type.protocol, error.code, performance.now() - this.#started);
    this.#end();
    const exchange = this.#exchange;
    if (exchange.closed) return;
    try {
      this.#writer.writeError(
        exchange,
        this.#type,
        error,
        this.#responseMetadata,
        callTrailers(this.#owner, this.#trailerMetadata),
      );
    } catch {
      exchange.destroy();
    }
  }

  endOverBudget(error: RpcError): void {
    this.fail(error);
    // What it holds is its queued response, behind a peer that does not read: reset the stream.
    this.#exchange.destroy();
  }

  onData(): void {
    // Held once the request has ended: nothing more comes.
  }

  onEnd(): void {}

  onClose(): void {
    if (this.budgetBytes !== 0) this.#account?.release(this);
    if (this.#done) return;
    this.#metrics?.record(this.#type.protocol, Code.Canceled, performance.now() - this.#started);
    this.#end();
  }

  onDrain(): void {
    this.#awaitingDrain = false;
    if (this.budgetBytes !== 0) this.#account?.release(this);
    if (!this.#done) this.#holder.onWritable();
  }

  static #onDeadline(call: HeldCall): void {
    call.#timer = undefined;
    call.fail(new RpcError(Code.DeadlineExceeded, "the call's deadline passed"));
  }

  #end(): void {
    this.#done = true;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.budgetBytes !== 0) this.#account?.release(this);
    this.#owner.untrackStream(this);
    this.#holder.onCallEnd();
  }
}
