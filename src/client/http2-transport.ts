import http2 from "node:http2";
import { Code } from "../wire/code.ts";
import { RpcError } from "../wire/rpc-error.ts";
import type { CallTrace } from "./call-trace.ts";
import {
  type ClientTlsOptions,
  defaultConnectTimeoutMs,
  type HttpRequest,
  type HttpResponse,
  type HttpTransport,
  type IncomingHeaders,
  type TransportOptions,
} from "./http-transport.ts";
import { connectFailure, transportError } from "./transport-errors.ts";

const { NGHTTP2_CANCEL } = http2.constants;

/**
 * HTTP/2 over one reused `node:http2` session: cleartext with prior knowledge (h2c, what gRPC and
 * dubbo-go's default client speak) or TLS with ALPN `h2`. A session that closes or receives GOAWAY
 * is replaced on the next call. The session holds the event loop open only while calls run.
 * @internal
 */
export class Http2Transport implements HttpTransport {
  readonly httpVersion = "2" as const;
  readonly origin: string;
  readonly #tls: ClientTlsOptions | undefined;
  readonly #connectTimeoutMs: number;
  #session: http2.ClientHttp2Session | undefined;
  #connecting: Promise<http2.ClientHttp2Session> | undefined;
  #active = 0;
  #closed = false;

  constructor(origin: URL, options: TransportOptions = {}) {
    this.origin = origin.origin;
    this.#tls = origin.protocol === "https:" ? (options.tls ?? {}) : options.tls;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? defaultConnectTimeoutMs;
  }

  async connect(signal?: AbortSignal): Promise<void> {
    await this.#getSession(signal);
  }

  async request(request: HttpRequest, trace?: CallTrace): Promise<HttpResponse> {
    const session = await this.#getSession(request.signal);
    const headers: http2.OutgoingHttpHeaders = {
      ":method": "POST",
      ":path": request.path,
      ...request.headers,
    };
    trace?.({ type: "request", httpVersion: "2", url: this.origin + request.path, headers: request.headers });
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(headers, { endStream: false });
    } catch {
      // The session went away between the check and the request (GOAWAY received): try a new one once.
      this.#forget(session);
      stream = (await this.#getSession(request.signal)).request(headers, { endStream: false });
    }
    this.#track(stream);
    return exchange(stream, request, trace);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const session = this.#session ?? (await this.#connecting?.catch(() => undefined));
    this.#session = undefined;
    if (session === undefined || session.destroyed) return;
    await new Promise<void>((resolve) => {
      // An idle session's socket is unref'd, and closing it is not a pending handle: hold the event
      // loop until the close completes, or a process awaiting close() could exit in the middle.
      const hold = setInterval(() => {}, 60_000);
      session.close(() => {
        clearInterval(hold);
        resolve();
      });
      // Streams still open (a Watch) would keep close() waiting: cancel them.
      for (const stream of openStreams.get(session) ?? []) {
        if (!stream.closed) stream.close(NGHTTP2_CANCEL);
        stream.destroy();
      }
    });
  }

  #getSession(signal: AbortSignal | undefined): Promise<http2.ClientHttp2Session> {
    if (this.#closed) return Promise.reject(new RpcError(Code.Unavailable, "client closed"));
    const current = this.#session;
    if (current !== undefined && !current.closed && !current.destroyed) return Promise.resolve(current);
    this.#connecting ??= this.#open().finally(() => {
      this.#connecting = undefined;
    });
    return raceSignal(this.#connecting, signal);
  }

  #open(): Promise<http2.ClientHttp2Session> {
    return new Promise((resolve, reject) => {
      const tls = this.#tls;
      const options: http2.SecureClientSessionOptions = {};
      let authority = this.origin;
      if (tls !== undefined) {
        authority = authority.replace(/^http:/, "https:");
        Object.assign(options, {
          ca: tls.ca,
          cert: tls.cert,
          key: tls.key,
          servername: tls.servername,
          rejectUnauthorized: tls.insecureSkipVerify !== true,
        });
      }
      const session = http2.connect(authority, options);
      const timeout = AbortSignal.timeout(this.#connectTimeoutMs);
      const onTimeout = () => {
        session.destroy();
        reject(connectFailure(this.origin, timeout.reason));
      };
      timeout.addEventListener("abort", onTimeout, { once: true });
      const onError = (cause: Error) => {
        timeout.removeEventListener("abort", onTimeout);
        reject(connectFailure(this.origin, cause));
      };
      session.once("error", onError);
      session.once("connect", () => {
        timeout.removeEventListener("abort", onTimeout);
        session.off("error", onError);
        // Errors after connecting surface on the streams; the listener keeps them from crashing the process.
        session.on("error", () => this.#forget(session));
        session.on("goaway", () => this.#forget(session));
        session.on("close", () => this.#forget(session));
        if (this.#active === 0) session.unref();
        this.#session = session;
        resolve(session);
      });
    });
  }

  #forget(session: http2.ClientHttp2Session): void {
    if (this.#session === session) this.#session = undefined;
  }

  // Keeps the process alive while a call runs, and only then.
  #track(stream: http2.ClientHttp2Stream): void {
    const session = stream.session as http2.ClientHttp2Session | undefined;
    if (session === undefined) return;
    let set = openStreams.get(session);
    if (set === undefined) {
      set = new Set();
      openStreams.set(session, set);
    }
    set.add(stream);
    if (this.#active++ === 0) session.ref();
    stream.once("close", () => {
      set.delete(stream);
      if (--this.#active === 0 && !session.destroyed) session.unref();
    });
  }
}

const openStreams = new WeakMap<http2.Http2Session, Set<http2.ClientHttp2Stream>>();

function raceSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(RpcError.from(signal.reason, Code.Canceled));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(RpcError.from(signal.reason, Code.Canceled));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
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
