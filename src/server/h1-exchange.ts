import type http from "node:http";
import type { IncomingHeaders } from "../protocol/request-head.ts";
import type { OutgoingHeaders } from "../protocol/response-sink.ts";
import {
  type Exchange,
  type ExchangeListener,
  forwardClose,
  forwardData,
  forwardDrain,
  forwardEnd,
  kExchange,
  withExtra,
} from "./exchange.ts";

type Request = http.IncomingMessage & { [kExchange]?: H1Exchange };
type Response = http.ServerResponse & { [kExchange]?: H1Exchange };

/**
 * Flattens header objects for `writeHead(status, [k, v, k, v])`, the cheapest form. `ownLength` drops a
 * `content-length` passed in (a forwarded head's): the exchange frames that body itself, with its own length
 * or chunked for trailers (a length would make node drop them).
 */
function flatten(headers: OutgoingHeaders, ownLength: boolean): string[] {
  const out: string[] = [];
  for (const name of Object.keys(headers)) {
    if (ownLength && name === "content-length") continue;
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
export class H1Exchange implements Exchange {
  readonly httpVersion = "1.1" as const;
  readonly req: Request;
  readonly res: Response;
  closed = false;
  extraHeaders: OutgoingHeaders | undefined = undefined;
  listener: ExchangeListener | undefined = undefined;

  constructor(req: http.IncomingMessage, res: http.ServerResponse) {
    this.req = req as Request;
    this.res = res as Response;
    this.req[kExchange] = this;
    this.res[kExchange] = this;
    res.sendDate = false;
    // No 'error' listener on req: node:http emits a request's 'error' (client gone mid-body) only
    // when someone listens, and 'close' on the response reports the same thing.
    res.on("close", forwardClose);
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
  get remoteAddress(): string | undefined {
    return this.req.socket?.remoteAddress;
  }

  attach(listener: ExchangeListener): void {
    this.listener = listener;
    this.req.on("data", forwardData);
    this.req.on("end", forwardEnd);
  }

  pauseRequest(): void {
    this.req.pause();
  }

  resumeRequest(): void {
    this.req.resume();
  }

  respond(
    status: number,
    headers: OutgoingHeaders,
    body: Buffer | undefined,
    trailers: OutgoingHeaders | undefined,
  ): void {
    const res = this.res;
    if (this.closed || res.destroyed) return;
    const head = flatten(withExtra(headers, this.extraHeaders), true);
    if (trailers === undefined) {
      // 204 and 304 carry no body and no length.
      if (status !== 204 && status !== 304)
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

  write(chunk: Buffer): boolean {
    if (this.closed || this.res.destroyed) return true;
    return this.res.write(chunk);
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

  waitDrain(): void {
    this.res.once("drain", forwardDrain);
  }

  destroy(): void {
    this.res.destroy();
  }

  closeConnectionAfter(): void {
    this.res.shouldKeepAlive = false;
  }
}
