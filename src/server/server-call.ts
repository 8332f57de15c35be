import type { ContentTypeInfo } from "../protocol/content-type.ts";
import { decodeWebText } from "../protocol/grpc-web.ts";
import type { ProtocolWriter } from "../protocol/protocol-writer.ts";
import { readRequestHead } from "../protocol/request-head.ts";
import { Code } from "../wire/code.ts";
import { type Compression, identity } from "../wire/compression.ts";
import { EnvelopeDecoder, EnvelopeFlag, envelopeHeaderBytes } from "../wire/envelope.ts";
import { type Metadata, RpcError } from "../wire/rpc-error.ts";
import { accountOf, type BudgetHolder, type ConnectionAccount, largeWriteBytes } from "./byte-budget.ts";
import { type ClosingOwner, callTrailers, encodeResponse, writeStreamMessage } from "./call-response.ts";
import type { Exchange, ExchangeListener } from "./exchange.ts";
import { HandlerCall } from "./handler-call.ts";
import { HeldCall } from "./held-call.ts";
import type { Route } from "./router.ts";
import type { StreamHolder } from "./service-types.ts";

/** Limits a call is read under. @internal */
export interface CallLimits {
  readonly maxMessageBytes: number;
  readonly maxMetadataBytes: number;
}

/** A server stream in flight, as its owner sees it: something a closing server can end. @internal */
export interface TrackedStream {
  fail(reason: unknown): void;
}

/** Keeps track of the server streams in flight, so that a closing server can end them. @internal */
export interface CallOwner extends ClosingOwner {
  trackStream(call: TrackedStream): void;
  untrackStream(call: TrackedStream): void;
}

enum State {
  Reading = 0,
  Running = 1,
  Done = 2,
}

const resolved = Promise.resolve();
function noop(): void {}

/** The longest delay `setTimeout` honours (2^31 - 1 ms). */
const maxTimerMs = 2_147_483_647;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === "function";
}

/**
 * One RPC on the server, the engine: reads the request from an exchange, runs the handler and
 * answers through the protocol writer. The handler never holds this object: it gets a
 * {@link HandlerCall}, which reads what it needs from here, so nothing below is reachable from it.
 * The costlier parts (metadata maps, the AbortSignal) are made on first use only.
 * @internal
 */
export class ServerCall implements ExchangeListener, BudgetHolder {
  readonly exchange: Exchange;
  readonly type: ContentTypeInfo;
  readonly route: Route;
  readonly limits: CallLimits;
  readonly #writer: ProtocolWriter;
  readonly #owner: CallOwner;
  #deadline: number | undefined = undefined;

  #state = State.Reading;
  #timer: NodeJS.Timeout | undefined = undefined;
  #compression: Compression = identity;
  #decoder: EnvelopeDecoder | undefined = undefined;
  // The request envelope, as two fields: the usual one-chunk request then costs no envelope object.
  #payload: Buffer | undefined = undefined;
  #flags = 0;
  // A body of one chunk (the usual unary request) is kept as is; an array only from the second one.
  #first: Buffer | undefined = undefined;
  #chunks: Buffer[] | undefined = undefined;
  #size = 0;
  #controller: AbortController | undefined = undefined;
  #abortReason: RpcError | undefined = undefined;
  #responseMetadata: Metadata | undefined = undefined;
  #trailerMetadata: Metadata | undefined = undefined;
  // send()'s promise while the transport pushes back, with its settlers: one field, made only then.
  #drain: DrainWait | undefined = undefined;
  #awaitingDrain = false;
  // The held stream this call handed over to (see hold()).
  #held: HeldCall | undefined = undefined;
  #tracked = false;
  /** Bytes charged to the connection's byte budget: the request buffered so far, or the response queued. */
  budgetBytes = 0;
  // The connection's account, looked up on the first charge (a Check never makes one).
  #account: ConnectionAccount | undefined = undefined;
  // performance.now() at the start, read only when the route records metrics.
  readonly #started: number;

  constructor(
    exchange: Exchange,
    type: ContentTypeInfo,
    writer: ProtocolWriter,
    route: Route,
    limits: CallLimits,
    owner: CallOwner,
  ) {
    this.exchange = exchange;
    this.type = type;
    this.route = route;
    this.limits = limits;
    this.#writer = writer;
    this.#owner = owner;
    this.#started = route.metrics === undefined ? 0 : performance.now();
  }

  // ---- what HandlerCall reads ----

  /** Absolute deadline in `Date.now()` milliseconds, set from the request head. */
  get deadline(): number | undefined {
    return this.#deadline;
  }
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#abortReason !== undefined) this.#controller.abort(this.#abortReason);
    }
    return this.#controller.signal;
  }
  get responseMetadata(): Metadata {
    this.#responseMetadata ??= new Map();
    return this.#responseMetadata;
  }
  get trailerMetadata(): Metadata {
    this.#trailerMetadata ??= new Map();
    return this.#trailerMetadata;
  }

  // ---- lifecycle ----

  /** Reads the request head (encodings, timeout, version, binary metadata) and starts reading the body. */
  start(): void {
    this.exchange.attach(this);
    const headers = this.exchange.headers;
    try {
      const head = readRequestHead(this.type, headers, this.exchange.rawHeaders);
      this.#compression = head.compression;
      const timeout = head.timeoutMs;
      // A deadline past what a timer can hold (about 24.8 days; grpc-timeout reaches 11,000 years) is
      // no deadline at all: Node would otherwise fire such a timer after 1 ms.
      if (timeout !== undefined && timeout <= maxTimerMs) {
        this.#deadline = Date.now() + timeout;
        this.#timer = setTimeout(ServerCall.#onDeadline, timeout, this);
      }
    } catch (error) {
      this.fail(error);
    }
    // The envelope decoder is made on first need: a unary request is mostly one chunk holding one envelope.
  }

  onData(chunk: Buffer): void {
    if (this.#state !== State.Reading) return;
    if (this.type.enveloped && !this.type.text) {
      if (this.#decoder === undefined && this.#payload === undefined && this.#takeWhole(chunk)) return;
      const decoder = this.#envelopeDecoder();
      decoder.push(chunk);
      try {
        this.#collect(decoder);
      } catch (error) {
        this.fail(error);
        return;
      }
      this.#charge(chunk.length);
      return;
    }
    this.#size += chunk.length;
    // grpc-web-text is base64: 4 bytes of text per 3 of envelope.
    const limit = this.type.text
      ? Math.ceil(((this.limits.maxMessageBytes + 5) * 4) / 3) + 4
      : this.limits.maxMessageBytes;
    if (this.#size > limit) {
      this.fail(
        new RpcError(
          Code.ResourceExhausted,
          `request message larger than the limit of ${this.limits.maxMessageBytes} bytes`,
        ),
      );
      return;
    }
    if (this.#first === undefined) this.#first = chunk;
    else if (this.#chunks === undefined) this.#chunks = [this.#first, chunk];
    else this.#chunks.push(chunk);
    this.#charge(chunk.length);
  }

  onEnd(): void {
    if (this.#state !== State.Reading) return;
    this.#state = State.Running;
    let payload: Buffer;
    let compressed: boolean;
    try {
      if (this.type.enveloped) {
        if (this.type.text) this.#envelopeDecoder().push(decodeWebText(this.#body()));
        const decoder = this.#decoder;
        if (decoder !== undefined) {
          this.#collect(decoder);
          decoder.end();
        }
        const message = this.#payload;
        if (message === undefined) throw this.#malformed("missing request message");
        // A Watch call lives on for hours: it must not keep the request chunk (or the decoder) alive.
        this.#payload = undefined;
        this.#decoder = undefined;
        payload = message;
        compressed = (this.#flags & EnvelopeFlag.Compressed) !== 0;
        if (compressed && this.#compression === identity) {
          throw new RpcError(Code.Internal, "compressed message flag set without a request encoding");
        }
      } else {
        payload = this.#body();
        compressed = this.#compression !== identity;
      }
    } catch (error) {
      this.fail(error);
      return;
    }
    if (!compressed) {
      this.#dispatch(payload);
      return;
    }
    this.#compression.decompress(payload, this.limits.maxMessageBytes).then(
      (inflated) => this.#dispatch(inflated),
      (error: unknown) => this.fail(error),
    );
  }

  onClose(): void {
    // A finished call may still have held its queued response.
    if (this.budgetBytes !== 0) this.#release();
    if (this.#state === State.Done) return;
    // The client went away before the answer: cancel.
    this.#state = State.Done;
    this.#record(Code.Canceled);
    this.#cleanup(new RpcError(Code.Canceled, "the client cancelled the call"));
  }

  onDrain(): void {
    this.#awaitingDrain = false;
    if (this.budgetBytes !== 0) this.#release();
    const drain = this.#drain;
    this.#drain = undefined;
    drain?.resolve();
  }

  /**
   * The port's request-body timeout passed with the request still open (HTTP/2 `requestBodyTimeoutMs`):
   * DEADLINE_EXCEEDED, as HTTP/1.1's `requestTimeout` answers 408 (which clients read as that code).
   */
  onRequestTimeout(): void {
    if (this.#state !== State.Reading) return;
    this.fail(new RpcError(Code.DeadlineExceeded, "the request was not received in time"));
  }

  /** The deadline passed: abort the handler and answer DEADLINE_EXCEEDED. One timer callback for every call. */
  static #onDeadline(call: ServerCall): void {
    call.#timer = undefined;
    call.fail(new RpcError(Code.DeadlineExceeded, "the call's deadline passed"));
  }

  /** Ends the call with `error` (server shutting down, limits), aborting the handler. */
  fail(reason: unknown): void {
    if (this.#state === State.Done) return;
    const wasReading = this.#state === State.Reading;
    this.#state = State.Done;
    const error = RpcError.from(reason);
    this.#record(error.code);
    this.#cleanup(error);
    // A request cut short (a limit, a timeout) must not keep what it had buffered until its stream is gone.
    if (wasReading) this.#dropRequest();
    const exchange = this.exchange;
    if (exchange.closed) return;
    // The rest of an unread body is not worth waiting for on HTTP/1.1.
    if (wasReading) exchange.closeConnectionAfter();
    try {
      this.#writer.writeError(exchange, this.type, error, this.#responseMetadata, this.#trailers());
    } catch {
      exchange.destroy();
    }
  }

  /**
   * The byte budget's answer to this call holding the most bytes on a connection over budget (its bytes are
   * already released): drop the buffered request, answer RESOURCE_EXHAUSTED and stop reading; once the
   * response is what is held (queued behind a peer that does not read), reset the stream as well.
   */
  endOverBudget(error: RpcError): void {
    const reading = this.#state === State.Reading;
    this.#first = undefined;
    this.#chunks = undefined;
    this.#decoder = undefined;
    this.#payload = undefined;
    this.fail(error);
    // The rest of its body is not wanted, and reading it to drop it (as an early answer otherwise does)
    // would let the peer keep sending at full speed: paused, flow control stops it within one window.
    if (reading) this.exchange.pauseRequest();
    else this.exchange.destroy();
  }

  /** HandlerCall's send(): encodes and writes one message of a server stream. */
  send(message: object): Promise<void> {
    if (this.#state !== State.Running) return this.#rejected(this.#abortReason ?? ended());
    const written = this.#writeMessage(message);
    if (written === true) return resolved;
    if (written !== false) return this.#rejected(written);
    this.#drain ??= drainWait();
    return this.#drain.promise;
  }

  /**
   * Keeps a server stream open past its handler's return, without a promise: hands the exchange, the
   * owner's tracking and the deadline over to a {@link HeldCall}, which writes from now on and ends only
   * when the call does (the client leaves, the deadline passes, the server ends it), which `holder` hears.
   * This call is done with then, and dropped: a Watch lives for hours. Called from the handler, after the
   * request ended and before any send(); the request head is let go (see {@link Exchange.forgetRequest}).
   */
  hold(holder: StreamHolder): HeldCall {
    const exchange = this.exchange;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#tracked) {
      this.#tracked = false;
      this.#owner.untrackStream(this);
    }
    this.#state = State.Done;
    exchange.forgetRequest();
    const held = new HeldCall({
      exchange,
      type: this.type,
      output: this.route.definition.output,
      writer: this.#writer,
      owner: this.#owner,
      holder,
      responseMetadata: this.#responseMetadata,
      trailerMetadata: this.#trailerMetadata,
      deadline: this.#deadline,
      metrics: this.route.metrics,
      started: this.#started,
    });
    this.#held = held;
    exchange.handOver(held);
    return held;
  }

  /**
   * Encodes and writes one message: true when taken, false when the transport pushed back (one `onDrain`
   * is asked for), else why not (a failed write has failed the call; an encoding failure is the caller's).
   */
  #writeMessage(message: object): boolean | RpcError {
    const bytes = encodeResponse(this.route.definition.output, this.type, message);
    if (bytes instanceof RpcError) return bytes;
    const exchange = this.exchange;
    try {
      if (writeStreamMessage(exchange, this.#writer, this.type, this.#responseMetadata, bytes)) return true;
    } catch (error) {
      this.fail(error);
      return error as RpcError;
    }
    // The transport pushes back: what it queues now counts against the budget until it drains.
    this.#chargeQueued();
    if (this.#state !== State.Running) return this.#abortReason ?? ended();
    if (!this.#awaitingDrain) {
      this.#awaitingDrain = true;
      exchange.waitDrain();
    }
    return false;
  }

  // ---- internals ----

  /**
   * The usual unary request: the first chunk is exactly one envelope with an allowed flag and a length
   * within the limit. Takes it as a view without a decoder; false leaves the chunk to the decoder,
   * which also reports every malformed case (so codes and messages are the decoder's).
   */
  #takeWhole(chunk: Buffer): boolean {
    const length = chunk.length - envelopeHeaderBytes;
    if (length < 0 || (chunk[0]! & ~EnvelopeFlag.Compressed) !== 0) return false;
    if (length > this.limits.maxMessageBytes || chunk.readUInt32BE(1) !== length) return false;
    this.#flags = chunk[0]!;
    this.#payload = chunk.subarray(envelopeHeaderBytes);
    return true;
  }

  #envelopeDecoder(): EnvelopeDecoder {
    this.#decoder ??= new EnvelopeDecoder({
      maxMessageBytes: this.limits.maxMessageBytes,
      allowedFlags: EnvelopeFlag.Compressed,
    });
    return this.#decoder;
  }

  #collect(decoder: EnvelopeDecoder): void {
    for (let envelope = decoder.next(); envelope !== undefined; envelope = decoder.next()) {
      if (this.#payload !== undefined)
        throw this.#malformed("more than one request message for a unary request");
      this.#flags = envelope.flags;
      this.#payload = envelope.payload;
    }
  }

  #dropRequest(): void {
    this.#decoder = undefined;
    this.#payload = undefined;
    this.#first = undefined;
    this.#chunks = undefined;
  }

  #body(): Buffer {
    const first = this.#first;
    const chunks = this.#chunks;
    this.#first = undefined;
    this.#chunks = undefined;
    if (chunks !== undefined) return Buffer.concat(chunks, this.#size);
    return first ?? Buffer.alloc(0);
  }

  // The connection's account, cached: an HTTP/2 stream forgets its session once closed.
  #budgetAccount(): ConnectionAccount | undefined {
    this.#account ??= accountOf(this.exchange.connection);
    return this.#account;
  }

  // Adds `bytes` of buffered request to this call's charge.
  #charge(bytes: number): void {
    this.#budgetAccount()?.set(this, this.budgetBytes + bytes);
  }

  // Charges what the transport holds of the response now (replacing any earlier charge).
  #chargeQueued(): void {
    this.#budgetAccount()?.set(this, this.exchange.queuedBytes);
  }

  #release(): void {
    this.#account?.release(this);
  }

  #malformed(message: string): RpcError {
    return new RpcError(this.#writer.malformedCode, message);
  }

  #dispatch(payload: Buffer): void {
    if (this.#state !== State.Running) return;
    // The request is read: its buffered bytes are no longer held on the peer's behalf.
    if (this.budgetBytes !== 0) this.#release();
    const definition = this.route.definition;
    let request: object;
    try {
      request = definition.input.decode(payload, this.type.codec);
    } catch (cause) {
      const error = RpcError.from(cause);
      this.fail(
        error.code === Code.InvalidArgument
          ? new RpcError(this.#writer.malformedCode, error.rawMessage, { cause })
          : error,
      );
      return;
    }
    // The handler's view of this call: the one object a call adds, in place of the envelope it no longer makes.
    const call = new HandlerCall(this);
    if (definition.kind === "unary") {
      let result: unknown;
      try {
        result = definition.handler(request, call);
      } catch (error) {
        this.fail(error);
        return;
      }
      if (isThenable(result)) {
        result.then(
          (output) => this.#finishUnary(output),
          (error: unknown) => this.fail(error),
        );
      } else {
        this.#finishUnary(result);
      }
      return;
    }
    this.#tracked = true;
    this.#owner.trackStream(this);
    let result: unknown;
    try {
      result = definition.handler(request, call);
    } catch (error) {
      if (this.#held === undefined) this.fail(error);
      else this.#held.fail(error);
      return;
    }
    // A held stream ends with the call, not with its handler's return (only a rejection still counts).
    const held = this.#held;
    if (held !== undefined) {
      if (isThenable(result)) result.then(undefined, (error: unknown) => held.fail(error));
      return;
    }
    Promise.resolve(result).then(
      () => this.#finishStream(),
      (error: unknown) => this.fail(error),
    );
  }

  #finishUnary(output: unknown): void {
    if (this.#state !== State.Running) return;
    const bytes = encodeResponse(this.route.definition.output, this.type, output as object);
    if (bytes instanceof RpcError) {
      this.fail(bytes);
      return;
    }
    try {
      this.#writer.writeUnary(this.exchange, this.type, bytes, this.#responseMetadata, this.#trailers());
    } catch (error) {
      this.fail(error);
      return;
    }
    this.#state = State.Done;
    this.#record(Code.Ok);
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    // A large answer counts until sent (released on close); a small one is not worth the look-up.
    if (bytes.length >= largeWriteBytes) this.#chargeQueued();
  }

  #finishStream(): void {
    if (this.#state !== State.Running) return;
    const exchange = this.exchange;
    try {
      if (!exchange.headersSent) this.#writer.startStream(exchange, this.type, this.#responseMetadata);
      this.#writer.endStream(exchange, this.type, this.#trailers());
    } catch (error) {
      this.fail(error);
      return;
    }
    this.#state = State.Done;
    this.#record(Code.Ok);
    this.#cleanup(undefined);
    // Messages still queued behind a slow reader count until the stream closes.
    if (this.#account !== undefined && exchange.queuedBytes >= largeWriteBytes) this.#chargeQueued();
  }

  #record(code: Code): void {
    this.route.metrics?.record(this.type.protocol, code, performance.now() - this.#started);
  }

  // The trailers to answer with (see callTrailers); made here when the owner adds one.
  #trailers(): Metadata | undefined {
    const trailers = callTrailers(this.#owner, this.#trailerMetadata);
    this.#trailerMetadata = trailers;
    return trailers;
  }

  // Clears the timer, settles a pending send, aborts the handler's signal (when `reason`).
  #cleanup(reason: RpcError | undefined): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.budgetBytes !== 0) this.#release();
    if (reason !== undefined && this.#abortReason === undefined) {
      this.#abortReason = reason;
      this.#controller?.abort(reason);
    }
    const drain = this.#drain;
    if (drain !== undefined) {
      this.#drain = undefined;
      drain.reject(reason ?? ended());
    }
    if (this.#tracked) {
      this.#tracked = false;
      this.#owner.untrackStream(this);
    }
  }

  #rejected(error: RpcError): Promise<void> {
    const promise = Promise.reject(error);
    promise.catch(noop);
    return promise;
  }
}

interface DrainWait {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(reason: RpcError): void;
}

function drainWait(): DrainWait {
  let resolve: () => void = noop;
  let reject: (reason: RpcError) => void = noop;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(noop);
  return { promise, resolve, reject };
}

function ended(): RpcError {
  return new RpcError(Code.Canceled, "the call has ended");
}
