/*
 * proto3 JSON readers refuse a field written twice in one object (protojson: `duplicate field`, also for
 * map keys), but `JSON.parse` silently keeps the last value. This finds such keys in a text that
 * `JSON.parse` has accepted, in one pass and without building anything but the key sets: it only runs for
 * bodies the flat reader (flat-json.ts, which sees duplicates itself) did not take.
 */

const quote = 0x22;
const backslash = 0x5c;
const colon = 0x3a;
const openBrace = 0x7b;
const closeBrace = 0x7d;
const openBracket = 0x5b;
const closeBracket = 0x5d;

function isSpace(code: number): boolean {
  return code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09;
}

/**
 * The first key that appears twice in one object of `text` (decoded: `"a"` and `"\u0061"` are the same
 * key), or undefined. `text` must be valid JSON (checked by `JSON.parse` first): the scan trusts its
 * structure, so that a string followed by `:` is a key of the innermost open object.
 */
export function duplicateJsonKey(text: string): string | undefined {
  // One entry per open object or array: the keys seen so far (made on an object's first key), or null.
  const open: (Set<string> | null)[] = [];
  const end = text.length;
  let at = 0;
  while (at < end) {
    const code = text.charCodeAt(at);
    if (code === quote) {
      const start = at;
      let escaped = false;
      at++;
      while (at < end) {
        const inner = text.charCodeAt(at);
        if (inner === quote) break;
        if (inner === backslash) {
          escaped = true;
          at++;
        }
        at++;
      }
      const close = at;
      at++;
      let next = at;
      while (next < end && isSpace(text.charCodeAt(next))) next++;
      if (text.charCodeAt(next) !== colon) continue;
      const key = escaped
        ? (JSON.parse(text.slice(start, close + 1)) as string)
        : text.slice(start + 1, close);
      const depth = open.length - 1;
      const keys = open[depth] ?? new Set<string>();
      if (keys.has(key)) return key;
      keys.add(key);
      open[depth] = keys;
      continue;
    }
    if (code === openBrace || code === openBracket) open.push(null);
    else if (code === closeBrace || code === closeBracket) open.pop();
    at++;
  }
  return undefined;
}
