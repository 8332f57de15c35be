import type http2 from "node:http2";
import type { IncomingHeaders } from "../protocol/request-head.ts";
import type { OutgoingHeaders } from "../protocol/response-sink.ts";
import { hopByHopHeaders } from "../wire/metadata.ts";

/**
 * Connection-level headers (RFC 9110 §7.6.1, RFC 9113 §8.2.2) that describe one hop, never the call:
 * a proxy drops them both ways. `host` becomes `:authority`; `te` is rebuilt (only `trailers` may cross).
 */
const hopByHop = new Set([...hopByHopHeaders(), "proxy-authenticate", "proxy-authorization"]);

/** Headers the `Connection` header names are hop-by-hop for this message too. */
function connectionTokens(headers: IncomingHeaders): Set<string> | undefined {
  const value = headers.connection;
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value.join(",") : value;
  return new Set(
    text
      .split(",")
      .map((token) => token.trim().toLowerCase())
      .filter((token) => token !== ""),
  );
}

function isForwarded(name: string, named: Set<string> | undefined): boolean {
  return name.charCodeAt(0) !== 58 /* ":" */ && !hopByHop.has(name) && named?.has(name) !== true;
}

/**
 * The upstream HTTP/2 request head for a call received over HTTP/2 or HTTP/1.1: method, path and
 * authority kept, end-to-end headers passed through unchanged, hop-by-hop ones dropped.
 * @internal
 */
export function upstreamRequestHeaders(
  method: string,
  path: string,
  incoming: IncomingHeaders,
): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = { ":method": method, ":path": path };
  const authority = incoming[":authority"] ?? incoming.host;
  if (typeof authority === "string" && authority !== "") out[":authority"] = authority;
  const named = connectionTokens(incoming);
  for (const name of Object.keys(incoming)) {
    const value = incoming[name];
    if (value !== undefined && isForwarded(name, named)) out[name] = value;
  }
  // gRPC servers may insist on `te: trailers` (grpc-go does); it is the one TE value HTTP/2 allows.
  const te = incoming.te;
  if (te !== undefined && /(^|,)\s*trailers\s*(;|,|$)/i.test(Array.isArray(te) ? te.join(",") : te))
    out.te = "trailers";
  return out;
}

/**
 * The end-to-end part of an upstream response head or trailers: pseudo and hop-by-hop headers dropped.
 * @internal
 */
export function forwardedResponseHeaders(incoming: IncomingHeaders): OutgoingHeaders {
  const out: OutgoingHeaders = {};
  const named = connectionTokens(incoming);
  for (const name of Object.keys(incoming)) {
    const value = incoming[name];
    if (value !== undefined && isForwarded(name, named)) out[name] = value;
  }
  return out;
}

/**
 * True when the response ends in HTTP trailers (gRPC: `application/grpc`, `+proto`, `+json`…);
 * gRPC-Web and triple/Connect carry their ending in the body.
 * @internal
 */
export function endsWithTrailers(contentType: string | string[] | undefined): boolean {
  if (typeof contentType !== "string") return false;
  const type = contentType.toLowerCase();
  return type.startsWith("application/grpc") && !type.startsWith("application/grpc-web");
}
