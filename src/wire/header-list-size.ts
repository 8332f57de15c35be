/**
 * The size of an HTTP/2 header list as SETTINGS_MAX_HEADER_LIST_SIZE counts it (RFC 9113 §6.5.2): name and
 * value octets plus 32 per field, pseudo-headers included. `rawHeaders` is node:http2's flat
 * `[name, value, name, value, …]` list (the `stream`, `response` and `trailers` events all give it), whose
 * strings are latin1, so `length` is the octet count. No allocation: it runs on every response a client reads.
 */
export function headerListSize(rawHeaders: readonly string[]): number {
  let size = 0;
  for (let i = 0; i < rawHeaders.length; i++) size += rawHeaders[i]!.length;
  return size + (rawHeaders.length >> 1) * 32;
}
