import type http from "node:http";
import type { IncomingHeaders } from "../protocol/request-head.ts";
import type { OutgoingHeaders } from "../protocol/response-sink.ts";
import { type Exchange, NodeExchange, withExtra } from "./exchange.ts";

/**
 * Flattens header objects for `writeHead(status, [k, v, k, v])`, the cheapest form. `chunked` drops a
 * `content-length` passed in (a forwarded head's): trailers need chunked encoding, and a length would make
 * node drop them.
 */
function flatten(headers: OutgoingHeaders, chunked: boolean): string[] {
  const out: string[] = [];
  for (const name of Object.keys(headers)) {
    if (chunked && name === "content-length") continue;
    const value = headers[name]!;
    if (typeof value === "string") out.push(name, value);
    else for (const item of value) out.push(name, item);
  }
  return out;
}

/**
 * An HTTP/1.1 request/response pair seen as an exchange.
 * @internal
 */
export class H1Exchange extends NodeExchange implements Exchange {
  get httpVersion(): "1.1" {
    return "1.1";
  }
  readonly req: http.IncomingMessage;
  readonly res: http.ServerResponse;

  constructor(req: http.IncomingMessage, res: http.ServerResponse) {
    // No 'error' listener on req: node:http emits a request's 'error' (client gone mid-body) only
    // when someone listens, and 'close' on the response reports the same thing.
    super(req, res);
    this.req = req;
    this.res = res;
    res.sendDate = false;
  }

  get headersSent(): boolean {
    return this.res.headersSent;
  }
  get method(): string {
    return this.req.method ?? "";
  }
  get url(): string {
    return this.req.url ?? "";
  }
  get headers(): IncomingHeaders {
    return this.req.headers;
  }
  get rawHeaders(): readonly string[] {
    return this.req.rawHeaders;
  }
  get connection(): object | undefined {
    return this.req.socket;
  }
  forgetRequest(): void {
    // The head belongs to node's request object, which lives as long as the exchange anyway.
    this.detachRequest();
  }
  get remoteAddress(): string | undefined {
    return this.req.socket?.remoteAddress;
  }

  respond(
    status: number,
    headers: OutgoingHeaders,
    body: Buffer | undefined,
    trailers: OutgoingHeaders | undefined,
  ): void {
    const res = this.res;
    if (this.closed || res.destroyed) return;
    const head = flatten(withExtra(headers, this.extraHeaders), trailers !== undefined);
    if (trailers === undefined) {
      // 204 and 304 carry no body and no length; a length given (a forwarded head's) is the one sent.
      if (status !== 204 && status !== 304 && headers["content-length"] === undefined)
        head.push("content-length", String(body === undefined ? 0 : body.length));
      res.writeHead(status, head);
      res.end(body);
      return;
    }
    head.push("trailer", Object.keys(trailers).join(", "));
    res.writeHead(status, head);
    if (body !== undefined) res.write(body);
    res.addTrailers(trailers);
    res.end();
  }

  start(status: number, headers: OutgoingHeaders, withTrailers: boolean): void {
    const res = this.res;
    if (this.closed || res.destroyed) return;
    const head = flatten(withExtra(headers, this.extraHeaders), withTrailers);
    // gRPC's trailer names are known up front; announcing them is what HTTP/1.1 asks for.
    if (withTrailers) head.push("trailer", "grpc-status, grpc-message");
    res.writeHead(status, head);
    // Send the head now: a stream's first message may be a while coming.
    res.flushHeaders();
  }

  finish(chunk: Buffer | undefined, trailers: OutgoingHeaders | undefined): void {
    const res = this.res;
    if (this.closed || res.destroyed) return;
    if (trailers !== undefined) {
      if (chunk !== undefined) res.write(chunk);
      res.addTrailers(trailers);
      res.end();
    } else {
      res.end(chunk);
    }
  }

  destroy(): void {
    this.res.destroy();
  }

  closeConnectionAfter(): void {
    this.res.shouldKeepAlive = false;
  }
}
