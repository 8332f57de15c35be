/**
 * `grpc-message` percent-encoding (grpc/grpc doc/PROTOCOL-HTTP2.md): the message is UTF-8, and
 * every byte outside 0x20–0x7E, plus `%` itself, is written as `%XX`.
 */

// True when every char is a printable ASCII byte other than '%': the common case needs no work.
function isPlain(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) return false;
  }
  return true;
}

const hex = "0123456789ABCDEF";

/** Percent-encodes a status message for the `grpc-message` trailer. */
export function encodeGrpcMessage(text: string): string {
  if (isPlain(text)) return text;
  const bytes = Buffer.from(text, "utf8");
  let out = "";
  for (const b of bytes) {
    if (b >= 0x20 && b <= 0x7e && b !== 0x25) out += String.fromCharCode(b);
    else out += "%" + hex[b >> 4] + hex[b & 0x0f];
  }
  return out;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/**
 * Decodes a `grpc-message` value. Malformed sequences (`%` not followed by two hex digits) are
 * kept as they are, as the spec asks; invalid UTF-8 becomes U+FFFD. Characters above 0xFF (a
 * peer that sent raw UTF-8 that was then decoded) are passed through.
 */
export function decodeGrpcMessage(value: string): string {
  if (!value.includes("%")) return value;
  const bytes: number[] = [];
  let out = "";
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x25 && i + 2 < value.length) {
      const hi = hexValue(value.charCodeAt(i + 1));
      const lo = hexValue(value.charCodeAt(i + 2));
      if (hi >= 0 && lo >= 0) {
        bytes.push((hi << 4) | lo);
        i += 2;
        continue;
      }
    }
    if (c > 0xff) {
      out += flush(bytes) + value[i];
      continue;
    }
    bytes.push(c);
  }
  return out + flush(bytes);
}

// Decodes and empties the pending byte run.
function flush(bytes: number[]): string {
  if (bytes.length === 0) return "";
  const text = Buffer.from(bytes).toString("utf8");
  bytes.length = 0;
  return text;
}
