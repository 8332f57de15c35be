import type http2 from "node:http2";
import { parseTarget } from "../client/call-client.ts";
import type { TransportOptions } from "../client/http-transport.ts";
import { SessionPool } from "../client/session-pool.ts";

/**
 * Options of the proxy's upstream connections: the client's. `tls` applies to `https://` upstreams,
 * or to every upstream when given; `connectTimeoutMs` defaults to 10 000 ms as for a client.
 */
export type UpstreamConnectionOptions = TransportOptions;

/**
 * The proxy's upstreams by their names (configured or discovered), over the client's {@link SessionPool}:
 * one reused HTTP/2 connection per upstream.
 * @internal
 */
export class UpstreamSessions {
  readonly #pool: SessionPool;
  readonly #authorities = new Map<string, string>();

  constructor(endpoints: readonly string[], options: UpstreamConnectionOptions = {}) {
    this.#pool = new SessionPool(options);
    for (const endpoint of endpoints) this.#authorityOf(endpoint);
  }

  /** Opens a request stream to `endpoint` (queued until the connection is up). */
  request(endpoint: string, headers: http2.OutgoingHttpHeaders): http2.ClientHttp2Stream {
    return this.#pool.request(this.#authorityOf(endpoint), headers);
  }

  /**
   * Forgets an upstream no longer in the set (discovery removed it): its connection takes no new
   * stream and closes once the calls on it finish.
   */
  release(endpoint: string): void {
    const authority = this.#authorities.get(endpoint);
    if (authority === undefined) return;
    this.#authorities.delete(endpoint);
    this.#pool.release(authority);
  }

  // Upstreams found by discovery arrive after the proxy started: their authority is worked out on first use.
  #authorityOf(endpoint: string): string {
    let authority = this.#authorities.get(endpoint);
    if (authority === undefined) {
      authority = this.#pool.authorityOf(parseTarget(endpoint));
      this.#authorities.set(endpoint, authority);
    }
    return authority;
  }

  /** Closes every connection; streams still open are cancelled after `graceMs`. */
  close(graceMs = 0): Promise<void> {
    return this.#pool.close(graceMs);
  }
}
