/** Response headers or trailers: lower-case names, no pseudo headers. @internal */
export type OutgoingHeaders = Record<string, string | string[]>;

/**
 * The transport as the protocol writers see it: an HTTP response that can be sent whole or
 * streamed, over HTTP/2 or HTTP/1.1. The server layer implements it for `node:http2` streams and
 * `node:http` responses; the protocol modules never touch either.
 *
 * Header objects passed in may be shared constants: implementations must not modify them.
 * @internal
 */
export interface ResponseSink {
  readonly httpVersion: "1.1" | "2";
  /** True once the response head has been handed to the transport. */
  readonly headersSent: boolean;
  /**
   * A complete response in one go: head, an optional body and optional trailers. With neither
   * body nor trailers the head ends the response (HTTP/2: one HEADERS frame with END_STREAM,
   * which is gRPC's Trailers-Only form).
   */
  respond(
    status: number,
    headers: OutgoingHeaders,
    body: Buffer | undefined,
    trailers: OutgoingHeaders | undefined,
  ): void;
  /** Opens a streamed response; `withTrailers` says whether `finish()` will pass trailers. */
  start(status: number, headers: OutgoingHeaders, withTrailers: boolean): void;
  /** Writes body bytes; false when the transport's buffer is full (the server waits for it to drain). */
  write(chunk: Buffer): boolean;
  /** Ends a streamed response with an optional last chunk, and the trailers `start()` promised. */
  finish(chunk: Buffer | undefined, trailers: OutgoingHeaders | undefined): void;
}
