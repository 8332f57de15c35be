import type http from "node:http";
import type http2 from "node:http2";
import { HealthRegistry } from "../health/registry.ts";
import type { IncomingHeaders } from "../protocol/request-head.ts";
import {
  emptyProxyStats,
  type ForwardContext,
  ForwardedCall,
  type ForwardObserver,
  type ProxyStats,
  type UpstreamChooser,
} from "../proxy/forwarded-call.ts";
import { defaultLocalPaths, localPathMatcher, refuseLocalPath } from "../proxy/local-paths.ts";
import { type UpstreamConnectionOptions, UpstreamSessions } from "../proxy/upstream-sessions.ts";
import type { Exchange } from "../server/exchange.ts";
import { H1Exchange } from "../server/h1-exchange.ts";
import { H2Exchange } from "../server/h2-exchange.ts";
import type { ConnectionOptions, Http1Options, Http2Options } from "../server/options.ts";
import type { TlsOptions } from "../server/port-listener.ts";
import { RpcHandler } from "../server/rpc-handler.ts";
import { HostBase, type PortListeners } from "./host-base.ts";

/** The head of a call the tap is about to forward. */
export interface TapCallHead {
  readonly method: string;
  readonly path: string;
  readonly httpVersion: "2" | "1.1";
  readonly headers: IncomingHeaders;
}

/** Sees one call's bytes as they pass; see {@link TripleTapOptions.observe}. */
export type TapObserver = ForwardObserver;

/** Options of {@link createTripleTap}. */
export interface TripleTapOptions {
  /** The server every call goes to: `http://host:port`, `host:port`, `tri://host:port`, `https://host:port`. */
  upstream: string;
  /** Called for each call before it is forwarded; the observer it returns sees the call's bytes. */
  observe: (head: TapCallHead) => TapObserver | undefined;
  /** Connections to the upstream. */
  upstreamConnection?: UpstreamConnectionOptions;
  /** Paths besides `/admin`, `/livez`, `/readyz` the tap answers 404 itself instead of forwarding (as the proxy). */
  localPaths?: readonly string[];
  /** Serve TLS (ALPN h2 and http/1.1) to callers instead of plaintext h2c + HTTP/1.1. */
  tls?: TlsOptions;
  http2?: Http2Options;
  http1?: Http1Options;
  connections?: ConnectionOptions;
}

/**
 * A transparent pass-through to one upstream that lets an observer see every call: the proxy's forwarding
 * (bytes, headers and trailers unchanged) without its picker, retries or own health, so health calls are
 * forwarded like any other; a call the upstream cannot be reached for gets UNAVAILABLE. The upstream's admin and
 * probe paths are answered 404 by the tap itself, as by the proxy. `triple-health tap` prints what it sees.
 */
export class TripleTap extends HostBase {
  /** The upstream, as given. */
  readonly upstream: string;
  readonly stats: ProxyStats = emptyProxyStats();
  readonly #ctx: ForwardContext;
  readonly #sessions: UpstreamSessions;
  readonly #observe: TripleTapOptions["observe"];
  readonly #isLocalPath: (target: string) => boolean;

  constructor(options: TripleTapOptions) {
    super({
      noun: "tap",
      transport: options,
      // Nothing is answered here: the registry only satisfies the host lifecycle.
      health: new HealthRegistry(),
      handler: new RpcHandler({ answerUnknownPaths: false }),
      healthService: false,
    });
    this.upstream = options.upstream;
    this.#observe = options.observe;
    this.#isLocalPath = localPathMatcher([...defaultLocalPaths, ...(options.localPaths ?? [])]);
    this.#sessions = new UpstreamSessions([options.upstream], options.upstreamConnection);
    const endpoint = options.upstream;
    // One upstream, one attempt: what the caller sees is what the upstream (or the connection to it) did.
    const chooser: UpstreamChooser = { pick: () => ({ endpoint, panic: false, done() {} }) };
    this.#ctx = {
      picker: chooser,
      sessions: this.#sessions,
      maxAttempts: 1,
      maxReplayBytes: 64 * 1024,
      retryOnReset: false,
      stats: this.stats,
      inFlight: new Set(),
    };
  }

  /** Calls being forwarded now. */
  get inFlight(): number {
    return this.#ctx.inFlight.size;
  }

  protected override listeners(): PortListeners {
    return { onStream: this.#onStream, onRequest: this.#onRequest };
  }

  readonly #onStream = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void => {
    this.#forward(new H2Exchange(stream, headers, undefined));
  };

  readonly #onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    this.#forward(new H1Exchange(req, res));
  };

  #forward(exchange: Exchange): void {
    // The upstream's admin surface trusts loopback callers, and every forwarded call comes from the tap's
    // address: those paths are never passed on (hardening II item 6, as in the proxy).
    if (this.#isLocalPath(exchange.url)) {
      refuseLocalPath(exchange);
      return;
    }
    const observer = this.#observe({
      method: exchange.method,
      path: exchange.url,
      httpVersion: exchange.httpVersion,
      headers: exchange.headers,
    });
    new ForwardedCall(this.#ctx, exchange, observer).start();
  }

  protected override async onClosed(): Promise<void> {
    await this.#sessions.close(0);
  }
}

/** A new {@link TripleTap}; call `listen()` to start it. */
export function createTripleTap(options: TripleTapOptions): TripleTap {
  return new TripleTap(options);
}
