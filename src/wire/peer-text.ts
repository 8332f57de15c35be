/**
 * The longest piece of peer input an error message quotes, in UTF-16 units. Error messages travel back to
 * the peer (`grpc-message`, a JSON error body): quoting a 60 KB header in full would send 60 KB back, and
 * percent-encoding can grow it sixfold past what the peer's header-list limit accepts, so the peer would
 * get no status at all.
 */
export const maxQuotedPeerText = 128;

/**
 * `text` as a JSON string for an error message, clipped to {@link maxQuotedPeerText} with a marker that
 * says how long it was.
 * @internal
 */
export function quotePeerText(text: string): string {
  if (text.length <= maxQuotedPeerText) return JSON.stringify(text);
  return `${JSON.stringify(text.slice(0, maxQuotedPeerText))}… (${text.length} characters)`;
}

/**
 * `text` unquoted, clipped to {@link maxQuotedPeerText} with a trailing `…`: for names (a path, a service)
 * that read better bare, as grpc-go writes `unknown service greet.X`.
 * @internal
 */
export function clipPeerText(text: string): string {
  return text.length <= maxQuotedPeerText ? text : `${text.slice(0, maxQuotedPeerText)}…`;
}
