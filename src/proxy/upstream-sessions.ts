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
 * The proxy's upstreams by their configured names, over the client's {@link SessionPool}: one reused
 * HTTP/2 connection per upstream.
 * @internal
 */
export class UpstreamSessions {
  readonly #pool: SessionPool;
  readonly #authorities = new Map<string, string>();

  constructor(endpoints: readonly string[], options: UpstreamConnectionOptions = {}) {
    this.#pool = new SessionPool(options);
    for (const endpoint of endpoints)
      this.#authorities.set(endpoint, this.#pool.authorityOf(parseTarget(endpoint)));
  }

  /** Opens a request stream to `endpoint` (queued until the connection is up). */
  request(endpoint: string, headers: http2.OutgoingHttpHeaders): http2.ClientHttp2Stream {
    const authority = this.#authorities.get(endpoint);
    if (authority === undefined) throw new Error(`unknown upstream ${endpoint}`);
    return this.#pool.request(authority, headers);
  }

  /** Closes every connection; streams still open are cancelled after `graceMs`. */
  close(graceMs = 0): Promise<void> {
    return this.#pool.close(graceMs);
  }
}
