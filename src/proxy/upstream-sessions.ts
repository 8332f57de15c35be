import http2 from "node:http2";
import { parseTarget } from "../client/call-client.ts";
import type { ClientTlsOptions } from "../client/http-transport.ts";

/** Options of the proxy's upstream connections. */
export interface UpstreamConnectionOptions {
  /** TLS towards `https://` upstreams (or every upstream when given). */
  tls?: ClientTlsOptions;
  /** Limit on establishing a connection, ms. Default 5000. */
  connectTimeoutMs?: number;
}

/**
 * One reused HTTP/2 connection per upstream (h2c prior knowledge, or TLS with ALPN `h2`). A session
 * that closes, fails or receives GOAWAY is forgotten; the next call opens a new one.
 * @internal
 */
export class UpstreamSessions {
  readonly #sessions = new Map<string, http2.ClientHttp2Session>();
  readonly #origins = new Map<string, { authority: string; tls: boolean }>();
  readonly #tls: ClientTlsOptions | undefined;
  readonly #connectTimeoutMs: number;
  #closed = false;

  constructor(endpoints: readonly string[], options: UpstreamConnectionOptions = {}) {
    this.#tls = options.tls;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    for (const endpoint of endpoints) {
      const url = parseTarget(endpoint);
      const tls = url.protocol === "https:" || options.tls !== undefined;
      this.#origins.set(endpoint, { authority: `${tls ? "https" : "http"}://${url.host}`, tls });
    }
  }

  /** Opens a request stream to `endpoint` (queued until the connection is up). */
  request(endpoint: string, headers: http2.OutgoingHttpHeaders): http2.ClientHttp2Stream {
    let session = this.#sessions.get(endpoint);
    if (session === undefined || session.closed || session.destroyed) session = this.#connect(endpoint);
    try {
      return session.request(headers, { endStream: false });
    } catch {
      // GOAWAY arrived between the check and the request: a fresh session takes it.
      this.#forget(endpoint, session);
      return this.#connect(endpoint).request(headers, { endStream: false });
    }
  }

  /** Closes every connection; streams still open are cancelled after `graceMs`. */
  async close(graceMs = 0): Promise<void> {
    this.#closed = true;
    const sessions = [...this.#sessions.values()];
    this.#sessions.clear();
    await Promise.all(
      sessions.map(
        (session) =>
          new Promise<void>((resolve) => {
            if (session.destroyed) {
              resolve();
              return;
            }
            const timer = setTimeout(() => session.destroy(), graceMs);
            session.close(() => {
              clearTimeout(timer);
              resolve();
            });
          }),
      ),
    );
  }

  #connect(endpoint: string): http2.ClientHttp2Session {
    const origin = this.#origins.get(endpoint);
    if (origin === undefined) throw new Error(`unknown upstream ${endpoint}`);
    if (this.#closed) throw new Error("upstream connections closed");
    const tls = this.#tls ?? {};
    const options: http2.SecureClientSessionOptions = origin.tls
      ? {
          ca: tls.ca,
          cert: tls.cert,
          key: tls.key,
          servername: tls.servername,
          rejectUnauthorized: tls.insecureSkipVerify !== true,
        }
      : {};
    const session = http2.connect(origin.authority, options);
    const timer = setTimeout(
      () => session.destroy(new Error(`connect to ${endpoint} timed out`)),
      this.#connectTimeoutMs,
    );
    session.once("connect", () => clearTimeout(timer));
    session.once("close", () => {
      clearTimeout(timer);
      this.#forget(endpoint, session);
    });
    // Failures show on the streams; this listener only keeps them from crashing the process.
    session.on("error", () => this.#forget(endpoint, session));
    session.on("goaway", () => this.#forget(endpoint, session));
    this.#sessions.set(endpoint, session);
    return session;
  }

  #forget(endpoint: string, session: http2.ClientHttp2Session): void {
    if (this.#sessions.get(endpoint) === session) this.#sessions.delete(endpoint);
  }
}
