import net from "node:net";
import type tls from "node:tls";

/** TLS settings of a client; `https://` URLs use TLS with the system roots unless `ca` is given. */
export interface ClientTlsOptions {
  /** Trusted CA certificates (PEM), replacing the system roots. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Client certificate chain (PEM) for mutual TLS; needs `key`. */
  cert?: string | Buffer;
  /** Client private key (PEM) for mutual TLS. */
  key?: string | Buffer;
  /** Name sent as SNI and checked against the server certificate, instead of the URL's host. */
  servername?: string;
  /** Accept any server certificate (INSECURE: for tests and debugging only). */
  insecureSkipVerify?: boolean;
}

/**
 * The TLS settings a connection to `url` uses, or undefined for cleartext: an `https:` URL implies
 * TLS (with the system roots unless `tls` says otherwise); `tls` turns it on for an `http:` one.
 * @internal
 */
export function tlsFor(url: URL, tls: ClientTlsOptions | undefined): ClientTlsOptions | undefined {
  return url.protocol === "https:" ? (tls ?? {}) : tls;
}

/**
 * Node's `tls.connect` options (also taken by `http2.connect`) for ours, towards `hostname` (the URL's,
 * IPv6 brackets allowed). ALPN is the caller's: node:http2 sets `h2` itself.
 * @internal
 */
export function tlsConnectOptions(options: ClientTlsOptions, hostname: string): tls.ConnectionOptions {
  const host = hostname.replace(/^\[|\]$/g, "");
  return {
    ca: options.ca,
    cert: options.cert,
    key: options.key,
    // SNI carries host names only, never an address (RFC 6066 §3).
    servername: options.servername ?? (net.isIP(host) ? undefined : host),
    rejectUnauthorized: options.insecureSkipVerify !== true,
  };
}
