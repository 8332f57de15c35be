/**
 * Go's `url.QueryEscape`, byte for byte: letters, digits and `-_.~` stay, a space becomes `+`, every
 * other UTF-8 byte becomes `%XX` (upper-case hex). It differs from `encodeURIComponent`, which keeps
 * `!'()*` and writes a space as `%20`. dubbo-go names interface-level znodes with it
 * (`registry/base_registry.go`: `url.QueryEscape(c.Service())` and `url.QueryEscape(rawURL)`).
 */
export function queryEscape(text: string): string {
  return encodeURIComponent(text)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, "+");
}

/**
 * Go's `url.QueryUnescape`: `+` is a space, `%XX` a byte; undefined for a malformed escape (Go's
 * error), or for bytes that are not UTF-8.
 */
export function queryUnescape(text: string): string | undefined {
  if (/%(?![0-9A-Fa-f]{2})/.test(text)) return undefined;
  try {
    return decodeURIComponent(text.replace(/\+/g, " "));
  } catch {
    return undefined;
  }
}
