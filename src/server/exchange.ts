import type { Readable, Writable } from "node:stream";
import type { IncomingHeaders } from "../protocol/request-head.ts";
import type { OutgoingHeaders, ResponseSink } from "../protocol/response-sink.ts";

/**
 * What an exchange reports to the call reading it. Methods, not closures: one listener object per
 * call receives every event.
 * @internal
 */
export interface ExchangeListener {
  onData(chunk: Buffer): void;
  onEnd(): void;
  /** The transport went away (client reset, disconnect) — or, after the response, simply closed. */
  onClose(): void;
  onDrain(): void;
  /**
   * The request has not ended within the port's request-body timeout (HTTP/2 `requestBodyTimeoutMs`) and no
   * response has started: answer it in the call's protocol and drop what was buffered. Optional: without
   * it the port resets the stream (RST_STREAM CANCEL).
   */
  onRequestTimeout?(): void;
}

/**
 * One HTTP request/response, the same for an HTTP/2 stream (core API) and an HTTP/1.1
 * request/response pair: the request head, the body as events, and the response as a
 * {@link ResponseSink}. The one adapter over Node's request/response objects: server calls, plain HTTP
 * handlers and forwarded (proxied) calls all speak it.
 * @internal
 */
export interface Exchange extends ResponseSink {
  readonly method: string;
  /** The path, query string included. */
  readonly url: string;
  readonly headers: IncomingHeaders;
  /** The request's header names and values in arrival order, when the transport handed them over. */
  readonly rawHeaders: readonly string[] | undefined;
  readonly remoteAddress: string | undefined;
  /** The connection it arrived on (the HTTP/2 session or the socket), as an identity for per-connection limits. */
  readonly connection: object | undefined;
  /** True once the transport side of the exchange is gone (reset, socket closed, response done). */
  readonly closed: boolean;
  /**
   * Headers every response head of this exchange carries besides the writer's, winning over them: CORS for
   * an allowed cross-origin request. Undefined for all others, so they pay nothing.
   */
  extraHeaders: OutgoingHeaders | undefined;
  /** Starts delivering body and lifecycle events to `listener`. */
  attach(listener: ExchangeListener): void;
  /** Delivers the events from now on to `listener` instead (a held stream taking over from its call). */
  handOver(listener: ExchangeListener): void;
  /** Stops `onData` until {@link resumeRequest}: backpressure from wherever the body goes. */
  pauseRequest(): void;
  resumeRequest(): void;
  /** Asks for one `onDrain` when the transport can take more. */
  waitDrain(): void;
  /**
   * Response bytes written and not yet sent. `writableLength` of the HTTP/2 stream (it counts a write until
   * nghttp2 has sent it; `bufferSize` would count it twice meanwhile) or of the HTTP/1.1 response (which
   * adds its socket's).
   */
  readonly queuedBytes: number;
  /**
   * Abandons the exchange: HTTP/2 RST_STREAM (CANCEL; INTERNAL_ERROR when `broken`, a response cut short by a
   * failure behind it), HTTP/1.1 destroys the socket.
   */
  destroy(broken?: boolean): void;
  /**
   * Lets go of a request read to its end once nothing reads it again: its listeners, and the head (the
   * header object, the raw list) on HTTP/2, where a held stream's header strings are a good part of what
   * it keeps for hours. Reads after it see no headers. HTTP/1.1's head is node's request object's, kept
   * while the exchange lives.
   */
  forgetRequest(): void;
  /** Marks the connection for closing after this response (HTTP/1.1 `Connection: close`). */
  closeConnectionAfter(): void;
}

/**
 * Where a transport object (an HTTP/2 stream, an HTTP/1.1 request or response) keeps its exchange, so
 * that the event forwarders below are shared functions instead of closures made per call.
 * @internal
 */
export const kExchange = Symbol("triple-health.exchange");

interface ExchangeHolder {
  [kExchange]?: { closed: boolean; listener: ExchangeListener | undefined };
}

/** `data` → the listener's onData. */
function forwardData(this: ExchangeHolder, chunk: Buffer): void {
  this[kExchange]?.listener?.onData(chunk);
}
/** `end` → onEnd. */
function forwardEnd(this: ExchangeHolder): void {
  this[kExchange]?.listener?.onEnd();
}
/** `close` → marks the exchange closed, then onClose. */
function forwardClose(this: ExchangeHolder): void {
  const exchange = this[kExchange];
  if (exchange === undefined) return;
  exchange.closed = true;
  exchange.listener?.onClose();
}
/** `drain` → onDrain. */
function forwardDrain(this: ExchangeHolder): void {
  this[kExchange]?.listener?.onDrain();
}

/**
 * What an exchange is the same over both transports: the request body read from a readable (the HTTP/2
 * stream, the HTTP/1.1 request), the response written to a writable (the same stream, the HTTP/1.1
 * response), and the events of both forwarded to the listener by the shared functions above.
 * @internal
 */
export class NodeExchange {
  closed = false;
  extraHeaders: OutgoingHeaders | undefined = undefined;
  listener: ExchangeListener | undefined = undefined;
  readonly #request: Readable;
  readonly #response: Writable;

  constructor(request: Readable, response: Writable) {
    this.#request = request;
    this.#response = response;
    (request as ExchangeHolder)[kExchange] = this;
    (response as ExchangeHolder)[kExchange] = this;
    response.on("close", forwardClose);
  }

  attach(listener: ExchangeListener): void {
    this.listener = listener;
    this.#request.on("data", forwardData);
    this.#request.on("end", forwardEnd);
  }

  handOver(listener: ExchangeListener): void {
    this.listener = listener;
  }

  pauseRequest(): void {
    this.#request.pause();
  }

  /** Removes the body listeners of a request that has ended (its 'end' listener is otherwise an array of two). */
  protected detachRequest(): void {
    this.#request.removeListener("data", forwardData);
    this.#request.removeListener("end", forwardEnd);
  }

  resumeRequest(): void {
    this.#request.resume();
  }

  write(chunk: Buffer): boolean {
    if (this.closed || this.#response.destroyed) return true;
    return this.#response.write(chunk);
  }

  waitDrain(): void {
    this.#response.once("drain", forwardDrain);
  }

  get queuedBytes(): number {
    return this.#response.writableLength;
  }
}

/** @internal `headers` with `extra` added over them; `headers` itself (often a shared constant) when there are none. */
export function withExtra(headers: OutgoingHeaders, extra: OutgoingHeaders | undefined): OutgoingHeaders {
  return extra === undefined ? headers : { ...headers, ...extra };
}
