import net from "node:net";
import tls from "node:tls";
import { Pool } from "undici";
import { Code } from "../wire/code.ts";
import { RpcError } from "../wire/rpc-error.ts";
import type { CallTrace } from "./call-trace.ts";
import {
  defaultConnectTimeoutMs,
  type HttpRequest,
  type HttpResponse,
  type HttpTransport,
  type IncomingHeaders,
  type TransportOptions,
} from "./http-transport.ts";
import { type ClientTlsOptions, tlsConnectOptions, tlsFor } from "./tls-options.ts";
import { connectFailure } from "./transport-errors.ts";

/**
 * HTTP/1.1 through an undici `Pool`: one connection per concurrent call, so a long Watch does not
 * hold up a Check. Sockets are opened here (not by undici) so that connection failures (with their own
 * timeout) are told apart from call failures.
 * @internal
 */
export class Http1Transport implements HttpTransport {
  readonly httpVersion = "1.1" as const;
  readonly origin: string;
  readonly #url: URL;
  readonly #tls: ClientTlsOptions | undefined;
  readonly #connectTimeoutMs: number;
  readonly #pool: Pool;
  #closed = false;

  constructor(origin: URL, options: TransportOptions = {}) {
    this.#url = origin;
    this.origin = origin.origin;
    this.#tls = tlsFor(origin, options.tls);
    this.#connectTimeoutMs = options.connectTimeoutMs ?? defaultConnectTimeoutMs;
    this.#pool = new Pool(this.origin.replace(/^http:/, this.#tls ? "https:" : "http:"), {
      // A Watch may stay silent for hours; deadlines are the call layer's business.
      headersTimeout: 0,
      bodyTimeout: 0,
      connect: (_options, callback) => {
        this.#openSocket().then(
          (socket) => callback(null, socket),
          (error: Error) => callback(error, null),
        );
      },
    });
  }

  /**
   * Checks that a connection (TCP, plus TLS when configured) can be established, then closes it: undici
   * opens its own on the first call. (Handing undici an already-connected socket stalls its first request.)
   */
  async connect(signal?: AbortSignal): Promise<void> {
    const socket = await this.#openSocket(signal);
    socket.destroy();
  }

  async request(request: HttpRequest, trace?: CallTrace): Promise<HttpResponse> {
    if (this.#closed) throw new RpcError(Code.Unavailable, "client closed");
    // A call cancelled (or out of time) before it starts sends nothing: undici would still connect.
    if (request.signal.aborted) throw RpcError.from(request.signal.reason, Code.Canceled);
    trace?.({
      type: "request",
      httpVersion: "1.1",
      url: this.origin + request.path,
      headers: request.headers,
    });
    trace?.({ type: "request-body", bytes: request.body });
    let data: Awaited<ReturnType<Pool["request"]>>;
    try {
      data = await this.#pool.request({
        method: "POST",
        path: request.path,
        headers: request.headers,
        body: Buffer.from(request.body.buffer, request.body.byteOffset, request.body.byteLength),
        signal: request.signal,
      });
    } catch (error) {
      throw http1Error(error);
    }
    const headers = data.headers as IncomingHeaders;
    trace?.({ type: "response", status: data.statusCode, headers });
    const body = data.body;
    return {
      status: data.statusCode,
      headers,
      body: (async function* () {
        try {
          for await (const chunk of body) {
            trace?.({ type: "response-body", bytes: chunk as Buffer });
            yield chunk as Buffer;
          }
        } catch (error) {
          throw http1Error(error);
        }
      })(),
      trailers: () => data.trailers,
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.destroy();
  }

  #openSocket(signal?: AbortSignal): Promise<net.Socket> {
    const url = this.#url;
    const port = Number(url.port || (this.#tls ? 443 : 80));
    const host = url.hostname.replace(/^\[|\]$/g, "");
    if (signal?.aborted) return Promise.reject(RpcError.from(signal.reason, Code.Canceled));
    return new Promise<net.Socket>((resolve, reject) => {
      const options = this.#tls;
      const socket =
        options === undefined
          ? net.connect({ host, port })
          : tls.connect({ ...tlsConnectOptions(options, host), host, port, ALPNProtocols: ["http/1.1"] });
      const timer = setTimeout(
        () => fail(new DOMException("connect timed out", "TimeoutError")),
        this.#connectTimeoutMs,
      );
      const onAbort = () => fail(signal?.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        socket.off("error", fail);
      };
      function fail(cause: unknown) {
        done();
        socket.destroy();
        reject(
          signal?.aborted && cause === signal.reason
            ? RpcError.from(cause, Code.Canceled)
            : connectFailure(url.origin, cause),
        );
      }
      socket.once("error", fail);
      socket.once(options === undefined ? "connect" : "secureConnect", () => {
        done();
        resolve(socket);
      });
    });
  }
}

function http1Error(error: unknown): RpcError {
  if (error instanceof RpcError) return error;
  if ((error as { name?: unknown }).name === "AbortError") return RpcError.from(error, Code.Canceled);
  // A connection failure from our connector comes back as it was built.
  const cause = (error as { cause?: unknown }).cause;
  if (cause instanceof RpcError) return cause;
  return new RpcError(Code.Unavailable, (error as Error).message ?? String(error), { cause: error });
}
