import http2 from "node:http2";
import { Code } from "../wire/code.ts";
import { RpcError } from "../wire/rpc-error.ts";
import type { CallTrace } from "./call-trace.ts";
import type {
  HttpRequest,
  HttpResponse,
  HttpTransport,
  IncomingHeaders,
  TransportOptions,
} from "./http-transport.ts";
import {
  maxResponseHeaderListBytes,
  oversizedHeaderList,
  SessionPool,
  unprocessedStream,
} from "./session-pool.ts";
import { transportError } from "./transport-errors.ts";

const { NGHTTP2_CANCEL, NGHTTP2_ENHANCE_YOUR_CALM } = http2.constants;

/** Marks the error of a stream the server never processed: its request may be sent once more. */
const kUnprocessed: unique symbol = Symbol("triple-health.unprocessed");
type MaybeUnprocessed = { [kUnprocessed]?: true };

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

  /**
   * One exchange; a stream the server provably never processed (REFUSED_STREAM, above a GOAWAY's
   * last-stream-id: the race of a new call with a server closing the session) is sent once more, on the
   * session the pool gives then (a new one after a GOAWAY), as grpc-go's transparent retry does. A call
   * that got any response headers, or whose stream the server may have seen, is never sent again.
   */
  async request(request: HttpRequest, trace?: CallTrace): Promise<HttpResponse> {
    try {
      return await this.#attempt(request, trace);
    } catch (error) {
      if ((error as MaybeUnprocessed)[kUnprocessed] !== true || request.signal.aborted) throw error;
      return this.#attempt(request, trace);
    }
  }

  async #attempt(request: HttpRequest, trace?: CallTrace): Promise<HttpResponse> {
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
    // A call that read its response to the end aborts its signal as it ends, while node is still in the
    // callback of the END_STREAM frame (the stream not yet `closed`): nothing is left to cancel, and a
    // RST_STREAM there would go out after every call. nghttp2 servers (node among them) count the resets a
    // client sends, a rapid-reset defence (1,000, then 33 a second), and past that GOAWAY the session with
    // INTERNAL_ERROR: "Session closed with error code 2" for the calls on it.
    if (stream.readableEnded) return;
    if (!stream.closed) stream.close(NGHTTP2_CANCEL);
    stream.destroy();
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  stream.once("close", () => signal.removeEventListener("abort", onAbort));
  stream.on("trailers", (headers: http2.IncomingHttpHeaders, _flags: number, rawHeaders?: string[]) => {
    const tooLarge = oversizedHeaders(rawHeaders, "trailers");
    if (tooLarge !== undefined) refuse(stream, tooLarge);
    else trailers = headers;
  });
  trace?.({ type: "request-body", bytes: request.body });
  stream.end(request.body);

  return new Promise<HttpResponse>((resolve, reject) => {
    const onEarlyError = (error: Error) => reject(earlyError(stream, error));
    // A stream reset before any headers (REFUSED_STREAM, a GOAWAY) closes without an error event.
    const onEarlyClose = () => reject(earlyError(stream, undefined));
    stream.once("error", onEarlyError);
    stream.once("close", onEarlyClose);
    stream.once(
      "response",
      (
        headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader,
        _flags: number,
        rawHeaders?: string[],
      ) => {
        stream.off("error", onEarlyError);
        stream.off("close", onEarlyClose);
        const tooLarge = oversizedHeaders(rawHeaders, "response headers");
        if (tooLarge !== undefined) {
          stream.on("error", () => {});
          refuse(stream, tooLarge);
          reject(tooLarge);
          return;
        }
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
      },
    );
  });
}

// RESOURCE_EXHAUSTED for a header list over the limit our sessions advertise (see oversizedHeaderList).
function oversizedHeaders(rawHeaders: string[] | undefined, what: string): RpcError | undefined {
  const bytes = oversizedHeaderList(rawHeaders);
  if (bytes === 0) return undefined;
  return new RpcError(
    Code.ResourceExhausted,
    `${what} of ${bytes} bytes exceed the ${maxResponseHeaderListBytes} this client accepts`,
  );
}

// Resets the stream (ENHANCE_YOUR_CALM, as nghttp2 does past the limit) and fails its reads with `error`.
function refuse(stream: http2.ClientHttp2Stream, error: RpcError): void {
  if (!stream.closed) stream.close(NGHTTP2_ENHANCE_YOUR_CALM);
  stream.destroy(error);
}

// The failure of a stream that ended before its response headers, marked when the server never processed it.
function earlyError(stream: http2.ClientHttp2Stream, cause: Error | undefined): RpcError {
  const error = transportError(cause, stream.rstCode);
  if (!unprocessedStream(stream)) return error;
  // A fresh error (a session's error is shared by its streams), and UNAVAILABLE whatever the GOAWAY's
  // code: the server did not run this call, and refused it for good only if the retry fails too.
  const unprocessed = new RpcError(Code.Unavailable, `not processed by the server: ${error.message}`, {
    cause: error,
  });
  Object.defineProperty(unprocessed, kUnprocessed, { value: true });
  return unprocessed;
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
