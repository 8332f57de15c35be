import type http from "node:http";
import http2 from "node:http2";
import type { Readable } from "node:stream";
import type { IncomingHeaders } from "../protocol/request-head.ts";
import type { OutgoingHeaders } from "../protocol/response-sink.ts";
import type { Exchange } from "../server/exchange.ts";
import { H1Exchange } from "../server/h1-exchange.ts";
import { H2Exchange } from "../server/h2-exchange.ts";

const { NGHTTP2_INTERNAL_ERROR } = http2.constants;

/**
 * The caller's side of a forwarded call, the same for an HTTP/2 stream and an HTTP/1.1
 * request/response: the request head and body, and a response written as head, chunks, end.
 * @internal
 */
export interface Downstream {
  readonly httpVersion: "2" | "1.1";
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHeaders;
  /** The request body. */
  readonly body: Readable;
  /** Runs once if the caller goes away before the response is complete. */
  onGone(callback: () => void): void;
  /**
   * Sends the response head; `endStream` ends the response with it (gRPC Trailers-Only),
   * `withTrailers` promises trailers at `end()`.
   */
  respond(status: number, headers: OutgoingHeaders, endStream: boolean, withTrailers: boolean): void;
  /** Writes body bytes; false when the caller's buffer is full (wait for `onceDrain`). */
  write(chunk: Buffer): boolean;
  onceDrain(callback: () => void): void;
  /** Ends the response, with the trailers `respond()` promised. */
  end(trailers: OutgoingHeaders | undefined): void;
  /** Abandons the response: RST_STREAM on HTTP/2, the socket destroyed on HTTP/1.1. */
  reset(): void;
  /** The server layer's view of the call, to answer an error in the caller's protocol (before `respond`). */
  exchange(): Exchange;
}

/** @internal */
export class H2Downstream implements Downstream {
  readonly httpVersion = "2" as const;
  readonly headers: IncomingHeaders;
  readonly body: Readable;
  readonly #stream: http2.ServerHttp2Stream;
  #trailers: OutgoingHeaders = {};
  #complete = false;

  constructor(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) {
    this.#stream = stream;
    this.headers = headers;
    this.body = stream;
    stream.on("error", () => {});
  }
  get method(): string {
    return (this.headers[":method"] as string | undefined) ?? "";
  }
  get path(): string {
    return (this.headers[":path"] as string | undefined) ?? "";
  }
  onGone(callback: () => void): void {
    this.#stream.once("close", () => {
      if (!this.#complete) callback();
    });
  }
  respond(status: number, headers: OutgoingHeaders, endStream: boolean, withTrailers: boolean): void {
    const stream = this.#stream;
    if (stream.destroyed) return;
    if (endStream) this.#complete = true;
    if (withTrailers && !endStream) {
      stream.once("wantTrailers", () => {
        this.#complete = true;
        stream.sendTrailers(this.#trailers);
      });
    }
    stream.respond({ ...headers, ":status": status }, {
      endStream,
      waitForTrailers: withTrailers && !endStream,
      sendDate: false,
    } as http2.ServerStreamResponseOptions);
  }
  write(chunk: Buffer): boolean {
    return this.#stream.destroyed ? true : this.#stream.write(chunk);
  }
  onceDrain(callback: () => void): void {
    this.#stream.once("drain", callback);
  }
  end(trailers: OutgoingHeaders | undefined): void {
    if (this.#stream.destroyed) return;
    if (trailers !== undefined) this.#trailers = trailers;
    else this.#complete = true;
    this.#stream.end();
  }
  reset(): void {
    this.#complete = true;
    if (!this.#stream.destroyed) this.#stream.close(NGHTTP2_INTERNAL_ERROR);
  }
  exchange(): Exchange {
    this.#complete = true;
    return new H2Exchange(this.#stream, this.headers as http2.IncomingHttpHeaders, undefined);
  }
}

/** @internal */
export class H1Downstream implements Downstream {
  readonly httpVersion = "1.1" as const;
  readonly body: Readable;
  readonly #req: http.IncomingMessage;
  readonly #res: http.ServerResponse;

  constructor(req: http.IncomingMessage, res: http.ServerResponse) {
    this.#req = req;
    this.#res = res;
    this.body = req;
    res.sendDate = false;
    req.on("error", () => {});
    res.on("error", () => {});
  }
  get method(): string {
    return this.#req.method ?? "";
  }
  get path(): string {
    return this.#req.url ?? "";
  }
  get headers(): IncomingHeaders {
    return this.#req.headers;
  }
  onGone(callback: () => void): void {
    this.#res.once("close", () => {
      if (!this.#res.writableFinished) callback();
    });
  }
  respond(status: number, headers: OutgoingHeaders, endStream: boolean, withTrailers: boolean): void {
    const res = this.#res;
    if (res.destroyed) return;
    const head: string[] = [];
    for (const name of Object.keys(headers)) {
      // HTTP/1.1 trailers need chunked encoding: a length would make node drop them.
      if (withTrailers && name === "content-length") continue;
      const value = headers[name]!;
      if (typeof value === "string") head.push(name, value);
      else for (const item of value) head.push(name, item);
    }
    if (withTrailers && !endStream) head.push("trailer", "grpc-status, grpc-message");
    res.writeHead(status, head);
    if (endStream) res.end();
    else res.flushHeaders();
  }
  write(chunk: Buffer): boolean {
    return this.#res.destroyed ? true : this.#res.write(chunk);
  }
  onceDrain(callback: () => void): void {
    this.#res.once("drain", callback);
  }
  end(trailers: OutgoingHeaders | undefined): void {
    const res = this.#res;
    if (res.destroyed) return;
    if (trailers !== undefined) res.addTrailers(trailers);
    res.end();
  }
  reset(): void {
    this.#res.destroy();
  }
  exchange(): Exchange {
    return new H1Exchange(this.#req, this.#res);
  }
}
