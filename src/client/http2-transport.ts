import http2 from "node:http2";
import type { CallTrace } from "./call-trace.ts";
import type {
  HttpRequest,
  HttpResponse,
  HttpTransport,
  IncomingHeaders,
  TransportOptions,
} from "./http-transport.ts";
import { SessionPool } from "./session-pool.ts";
import { transportError } from "./transport-errors.ts";

const { NGHTTP2_CANCEL } = http2.constants;

/**
 * HTTP/2 over one reused session from a {@link SessionPool} (h2c prior knowledge or TLS with ALPN
 * `h2`); a session that closes or receives GOAWAY is replaced on the next call. The session holds the
 * event loop open only while calls run.
 * @internal
 */
export class Http2Transport implements HttpTransport {
  readonly httpVersion = "2" as const;
  readonly origin: string;
  readonly #pool: SessionPool;
  readonly #authority: string;

  constructor(origin: URL, options: TransportOptions = {}) {
    this.origin = origin.origin;
    this.#pool = new SessionPool(options);
    this.#authority = this.#pool.authorityOf(origin);
  }

  connect(signal?: AbortSignal): Promise<void> {
    return this.#pool.connect(this.#authority, signal);
  }

  async request(request: HttpRequest, trace?: CallTrace): Promise<HttpResponse> {
    const headers: http2.OutgoingHttpHeaders = {
      ":method": "POST",
      ":path": request.path,
      ...request.headers,
    };
    const stream = await this.#pool.requestConnected(this.#authority, headers, request.signal);
    trace?.({ type: "request", httpVersion: "2", url: this.origin + request.path, headers: request.headers });
    return exchange(stream, request, trace);
  }

  /** Closes the session; streams still open (a Watch) are cancelled. */
  close(): Promise<void> {
    return this.#pool.close();
  }
}

/** Sends the body and resolves on the response headers; the body and trailers follow through the result. */
function exchange(
  stream: http2.ClientHttp2Stream,
  request: HttpRequest,
  trace?: CallTrace,
): Promise<HttpResponse> {
  const { signal } = request;
  let trailers: IncomingHeaders = {};
  // destroy() also frees a stream that is closed on the wire but whose body was never read.
  const onAbort = () => {
    if (!stream.closed) stream.close(NGHTTP2_CANCEL);
    stream.destroy();
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  stream.once("close", () => signal.removeEventListener("abort", onAbort));
  stream.on("trailers", (headers: http2.IncomingHttpHeaders) => {
    trailers = headers;
  });
  trace?.({ type: "request-body", bytes: request.body });
  stream.end(request.body);

  return new Promise<HttpResponse>((resolve, reject) => {
    const onEarlyError = (error: Error) => reject(transportError(error, stream.rstCode));
    // A stream reset before any headers (REFUSED_STREAM, a GOAWAY) closes without an error event.
    const onEarlyClose = () => reject(transportError(undefined, stream.rstCode));
    stream.once("error", onEarlyError);
    stream.once("close", onEarlyClose);
    stream.once("response", (headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader) => {
      stream.off("error", onEarlyError);
      stream.off("close", onEarlyClose);
      // Keep an error listener: iteration reports the error, this only prevents an unhandled 'error'.
      stream.on("error", () => {});
      const status = headers[":status"] ?? 200;
      const responseHeaders: IncomingHeaders = {};
      for (const [name, value] of Object.entries(headers))
        if (!name.startsWith(":")) responseHeaders[name] = value;
      trace?.({ type: "response", status, headers: responseHeaders });
      resolve({
        status,
        headers: responseHeaders,
        body: readBody(stream, trace),
        trailers: () => trailers,
      });
    });
  });
}

async function* readBody(stream: http2.ClientHttp2Stream, trace?: CallTrace): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of stream) {
      trace?.({ type: "response-body", bytes: chunk as Buffer });
      yield chunk as Buffer;
    }
  } catch (error) {
    throw transportError(error as Error, stream.rstCode);
  }
  // A stream we reset ourselves (close(), cancellation) ends the iteration without an error.
  if (stream.rstCode !== undefined && stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR) {
    throw transportError(undefined, stream.rstCode);
  }
}
