import type { OutgoingHeaders } from "../protocol/response-sink.ts";
import type { Exchange, ExchangeListener } from "./exchange.ts";
import type {
  PlainHttpHandler,
  PlainHttpRequest,
  PlainHttpResponse,
  PlainHttpStream,
} from "./service-types.ts";

/**
 * Reads a request's body, then offers it to the plain HTTP handlers in order; the first answer is
 * sent, and `unclaimed` runs when none answers. Bodies above `maxBytes` get 413.
 * @internal
 */
export function answerPlainHttp(
  exchange: Exchange,
  handlers: readonly PlainHttpHandler[],
  maxBytes: number,
  unclaimed: (exchange: Exchange) => void,
): void {
  exchange.attach(new PlainBodyReader(exchange, handlers, maxBytes, unclaimed));
}

class PlainBodyReader implements ExchangeListener {
  readonly #exchange: Exchange;
  readonly #handlers: readonly PlainHttpHandler[];
  readonly #maxBytes: number;
  readonly #unclaimed: (exchange: Exchange) => void;
  #chunks: Buffer[] = [];
  #size = 0;
  #done = false;
  // Set while a streamed answer is open: aborted when the exchange closes.
  #streaming: AbortController | undefined;

  constructor(
    exchange: Exchange,
    handlers: readonly PlainHttpHandler[],
    maxBytes: number,
    unclaimed: (exchange: Exchange) => void,
  ) {
    this.#exchange = exchange;
    this.#handlers = handlers;
    this.#maxBytes = maxBytes;
    this.#unclaimed = unclaimed;
  }

  onData(chunk: Buffer): void {
    if (this.#done) return;
    this.#size += chunk.length;
    if (this.#size > this.#maxBytes) {
      this.#done = true;
      this.#chunks = [];
      this.#exchange.closeConnectionAfter();
      send(this.#exchange, { status: 413, body: "request body too large\n" });
      return;
    }
    this.#chunks.push(chunk);
  }

  /** The port's request-body timeout passed (HTTP/2): 408, as node:http answers on HTTP/1.1. */
  onRequestTimeout(): void {
    if (this.#done) return;
    this.#done = true;
    this.#chunks = [];
    send(this.#exchange, { status: 408, body: "request body timeout\n" });
  }

  onEnd(): void {
    if (this.#done) return;
    this.#done = true;
    const exchange = this.#exchange;
    const url = exchange.url;
    const query = url.indexOf("?");
    const headers: Record<string, string | undefined> = {};
    for (const [name, value] of Object.entries(exchange.headers)) {
      if (!name.startsWith(":")) headers[name] = Array.isArray(value) ? value.join(", ") : value;
    }
    // HTTP/2 carries the host in :authority (RFC 9113 §8.3.1); handlers read it as `host`, as on HTTP/1.1.
    const authority = exchange.headers[":authority"];
    if (headers.host === undefined && typeof authority === "string") headers.host = authority;
    const request: PlainHttpRequest = {
      method: exchange.method,
      path: query < 0 ? url : url.slice(0, query),
      query: new URLSearchParams(query < 0 ? "" : url.slice(query + 1)),
      headers,
      remoteAddress: exchange.remoteAddress,
      body: Buffer.concat(this.#chunks, this.#size),
    };
    this.#chunks = [];
    // Nothing a handler or its answer does may escape as an unhandled rejection: that would end the process.
    this.#offer(request, 0).catch(() => this.#exchange.destroy());
  }

  onClose(): void {
    this.#done = true;
    this.#streaming?.abort();
  }

  onDrain(): void {}

  async #offer(request: PlainHttpRequest, from: number): Promise<void> {
    const exchange = this.#exchange;
    for (let i = from; i < this.#handlers.length; i++) {
      let response: PlainHttpResponse | undefined;
      try {
        response = await this.#handlers[i]!(request);
      } catch (error) {
        send(exchange, { status: 500, body: `internal error: ${errorText(error)}\n` });
        return;
      }
      if (response !== undefined) {
        try {
          if (response.stream === undefined) send(exchange, response);
          else this.#stream(response, response.stream);
        } catch (error) {
          // A handler's answer node cannot write (an invalid header name or value, say).
          send(exchange, { status: 500, body: `internal error: ${errorText(error)}\n` });
        }
        return;
      }
    }
    if (!exchange.closed) this.#unclaimed(exchange);
  }

  // `open` is called in every case, with an aborted signal when the head could not go: whatever it took
  // for the stream (a slot under a limit) it gives back on abort.
  #stream(response: PlainHttpResponse, open: (out: PlainHttpStream) => void): void {
    const exchange = this.#exchange;
    const controller = new AbortController();
    const out: PlainHttpStream = {
      signal: controller.signal,
      write: (chunk) => {
        if (controller.signal.aborted) return false;
        return exchange.write(typeof chunk === "string" ? Buffer.from(chunk) : toBuffer(chunk));
      },
      end: () => {
        if (controller.signal.aborted) return;
        controller.abort();
        exchange.finish(undefined, undefined);
      },
    };
    let failure: { error: unknown } | undefined;
    if (exchange.closed) controller.abort();
    else {
      this.#streaming = controller;
      try {
        exchange.start(response.status, lowerCaseHeaders(response), false);
      } catch (error) {
        // A head node cannot write (an invalid header): #offer answers 500 instead, once `open` knows.
        controller.abort();
        failure = { error };
      }
    }
    try {
      open(out);
    } catch {
      if (failure === undefined && !controller.signal.aborted) {
        // The head is gone already: no 500 can follow it, only a cut-short response.
        controller.abort();
        exchange.destroy(true);
      }
    }
    if (failure !== undefined) throw failure.error;
  }
}

function lowerCaseHeaders(response: PlainHttpResponse): OutgoingHeaders {
  const headers: OutgoingHeaders = {};
  for (const [name, value] of Object.entries(response.headers ?? {})) headers[name.toLowerCase()] = value;
  return headers;
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function send(exchange: Exchange, response: PlainHttpResponse): void {
  if (exchange.closed) return;
  const headers = lowerCaseHeaders(response);
  const body = response.body;
  if (body !== undefined && headers["content-type"] === undefined && typeof body === "string") {
    headers["content-type"] = "text/plain; charset=utf-8";
  }
  const bytes =
    body === undefined ? undefined : typeof body === "string" ? Buffer.from(body) : toBuffer(body);
  exchange.respond(response.status, headers, bytes, undefined);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
