// HTTP/1.1 loaded on first use: the transport is undici's (src/client/http1-transport.ts), and undici alone
// costs a process more start-up CPU than a bare `node -e 0` does. A `check` over HTTP/2 (the default, and
// every gRPC call) never loads it.
import { Code } from "../wire/code.ts";
import { RpcError } from "../wire/rpc-error.ts";
import type { CallTrace } from "./call-trace.ts";
import type { HttpRequest, HttpResponse, HttpTransport, TransportOptions } from "./http-transport.ts";
import { tlsFor } from "./tls-options.ts";

/** An HttpTransport over HTTP/1.1 that imports undici when it is first used. @internal */
export class LazyHttp1Transport implements HttpTransport {
  readonly httpVersion = "1.1" as const;
  readonly origin: string;
  readonly #url: URL;
  readonly #options: TransportOptions;
  #transport: Promise<HttpTransport> | undefined;
  #closed = false;

  constructor(origin: URL, options: TransportOptions = {}) {
    this.#url = origin;
    this.#options = options;
    this.origin = origin.origin;
    // Bad TLS options throw here, where they are given, as the eager transport's constructor does.
    tlsFor(origin, options.tls);
  }

  #load(): Promise<HttpTransport> {
    if (this.#closed && this.#transport === undefined)
      return Promise.reject(new RpcError(Code.Unavailable, "client closed"));
    this.#transport ??= import("./http1-transport.ts").then(
      ({ Http1Transport }) => new Http1Transport(this.#url, this.#options),
    );
    return this.#transport;
  }

  async connect(signal?: AbortSignal): Promise<void> {
    return (await this.#load()).connect(signal);
  }

  async request(request: HttpRequest, trace?: CallTrace): Promise<HttpResponse> {
    return (await this.#load()).request(request, trace);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Never used: nothing was opened, and undici need not be loaded to close nothing.
    if (this.#transport !== undefined) await (await this.#transport).close();
  }
}
