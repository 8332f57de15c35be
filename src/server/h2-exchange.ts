import http2 from "node:http2";
import type { IncomingHeaders } from "../protocol/request-head.ts";
import type { OutgoingHeaders } from "../protocol/response-sink.ts";
import { type Exchange, kExchange, NodeExchange } from "./exchange.ts";

type Stream = http2.ServerHttp2Stream & { [kExchange]?: H2Exchange };

// Shared option objects (node:http2 copies them): no per-call allocation.
const plainOptions = { sendDate: false } as http2.ServerStreamResponseOptions;
const endOptions = { endStream: true, sendDate: false } as http2.ServerStreamResponseOptions;
const trailerOptions = { waitForTrailers: true, sendDate: false } as http2.ServerStreamResponseOptions;

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR } = http2.constants;

// Added with `on`, not `once` (which wraps it per call): a stream asks for trailers once at most.
function onWantTrailers(this: Stream): void {
  const exchange = this[kExchange]!;
  const trailers = exchange.trailers;
  exchange.trailers = undefined;
  this.sendTrailers(trailers ?? {});
  releaseRequest(this);
}

/**
 * How long a stream whose response is complete may wait for the peer to end its request before it is reset.
 */
const requestLingerMs = 1000;

function resetLingering(stream: Stream): void {
  if (!stream.closed && !stream.destroyed) stream.close(NGHTTP2_NO_ERROR);
}

/**
 * Our side of `stream` is complete while the request is still open (an early error); the rest of it is not
 * wanted. RFC 9113 §8.1 allows RST_STREAM(NO_ERROR) after a complete response, but sent at once it loses
 * answers: nghttp2 sends a queued RST_STREAM ahead of DATA still queued for the stream, and curl treats
 * one that comes while it still uploads as a failure ("(92) Stream error in the HTTP/2 framing layer", about
 * 1 error answer in 100). Node itself resets a stream whose body was never read on the next turn; reading
 * (and dropping) the rest of the body keeps it from doing so. So: drop what still comes, let a peer that
 * ends its request close the stream the ordinary way, and reset one that has not after requestLingerMs.
 */
function releaseRequest(stream: Stream): void {
  // The common case, every call that read its request to the end: nothing to do.
  if (stream.readableEnded || stream.destroyed) return;
  stream.resume();
  const timer = setTimeout(resetLingering, requestLingerMs, stream);
  timer.unref();
  stream.once("close", () => clearTimeout(timer));
}

// A stream error (a reset with an error code, a protocol error) shows up as 'close' as well; this
// listener only keeps an unhandled 'error' event from throwing.
function ignoreError(): void {}

// What a released exchange reads as its head: nothing.
const releasedHead: IncomingHeaders = Object.freeze(Object.create(null));

function head(status: number, headers: OutgoingHeaders, extra: OutgoingHeaders | undefined): OutgoingHeaders {
  if (extra !== undefined) return { ...headers, ...extra, ":status": String(status) };
  return status === 200 ? headers : { ...headers, ":status": String(status) };
}

/**
 * An HTTP/2 stream through the core `stream` API (not the compatibility layer).
 * @internal
 */
export class H2Exchange extends NodeExchange implements Exchange {
  // A getter, not a field: every field is a word in each of the exchanges a server holds (a Watch's, for hours).
  get httpVersion(): "2" {
    return "2";
  }
  readonly stream: Stream;
  headers: IncomingHeaders;
  rawHeaders: readonly string[] | undefined;
  headersSent = false;
  /**
   * The trailers `wantTrailers` will send. Kept here, not on the node:http2 stream: every property added
   * to node's stream object is a shape transition, and often a larger property store, on every call.
   */
  trailers: OutgoingHeaders | undefined = undefined;

  constructor(
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    rawHeaders: readonly string[] | undefined,
  ) {
    super(stream, stream);
    this.stream = stream as Stream;
    this.headers = headers;
    this.rawHeaders = rawHeaders;
    stream.on("error", ignoreError);
  }

  get method(): string {
    return (this.headers[":method"] as string | undefined) ?? "";
  }
  get url(): string {
    return (this.headers[":path"] as string | undefined) ?? "";
  }
  get connection(): object | undefined {
    return this.stream.session;
  }
  get remoteAddress(): string | undefined {
    return this.stream.session?.socket?.remoteAddress;
  }

  respond(
    status: number,
    headers: OutgoingHeaders,
    body: Buffer | undefined,
    trailers: OutgoingHeaders | undefined,
  ): void {
    this.headersSent = true;
    const stream = this.stream;
    if (this.closed || stream.destroyed) return;
    const responseHead = head(status, headers, this.extraHeaders);
    if (trailers !== undefined) {
      this.trailers = trailers;
      stream.on("wantTrailers", onWantTrailers);
      stream.respond(responseHead, trailerOptions);
      stream.end(body);
    } else if (body === undefined) {
      stream.respond(responseHead, endOptions);
    } else {
      stream.respond(responseHead, plainOptions);
      stream.end(body);
    }
    // With trailers, onWantTrailers does this once they are sent.
    if (trailers === undefined) releaseRequest(stream);
  }

  start(status: number, headers: OutgoingHeaders, withTrailers: boolean): void {
    this.headersSent = true;
    if (this.closed || this.stream.destroyed) return;
    this.stream.respond(
      head(status, headers, this.extraHeaders),
      withTrailers ? trailerOptions : plainOptions,
    );
  }

  finish(chunk: Buffer | undefined, trailers: OutgoingHeaders | undefined): void {
    const stream = this.stream;
    if (this.closed || stream.destroyed) return;
    if (trailers !== undefined) {
      this.trailers = trailers;
      stream.on("wantTrailers", onWantTrailers);
    }
    stream.end(chunk);
    if (trailers === undefined) releaseRequest(stream);
  }

  destroy(broken?: boolean): void {
    if (!this.stream.destroyed) this.stream.close(broken === true ? NGHTTP2_INTERNAL_ERROR : NGHTTP2_CANCEL);
  }

  forgetRequest(): void {
    this.headers = releasedHead;
    this.rawHeaders = undefined;
    this.detachRequest();
  }

  closeConnectionAfter(): void {
    // HTTP/2 connections are closed with GOAWAY by the server, not per response. A request that will not be
    // read to its end (an early error) is released once the response is out: see releaseRequest.
  }
}
