// A deliberately minimal HTTP/2 client for the watch fan-out bench: prior-knowledge h2c, requests encoded with
// HPACK literals (no table, no Huffman), response header blocks skipped unread, and DATA payloads handed over
// as they are. It exists so that the client process costs ~1 µs per received message instead of node:http2's
// ~10 µs, leaving the measured time to the server under test. Not a general client: no push, no priorities,
// no response header decoding (a server ending a watch is seen as a HEADERS frame with END_STREAM).
import net from "node:net";

const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
const FRAME_DATA = 0x0;
const FRAME_HEADERS = 0x1;
const FRAME_RST_STREAM = 0x3;
const FRAME_SETTINGS = 0x4;
const FRAME_PING = 0x6;
const FRAME_GOAWAY = 0x7;
const FRAME_WINDOW_UPDATE = 0x8;
const FLAG_END_STREAM = 0x1;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
/** RST_STREAM error code CANCEL: what a client sends when it no longer wants a stream. */
export const CANCEL = 0x8;
const maxWindow = 0x7fffffff;

function frame(type, flags, streamId, payload) {
  const out = Buffer.allocUnsafe(9 + payload.length);
  out.writeUIntBE(payload.length, 0, 3);
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(streamId, 5);
  payload.copy(out, 9);
  return out;
}

function hpackString(text) {
  const bytes = Buffer.from(text, "latin1");
  if (bytes.length > 126) throw new Error("header too long for this minimal encoder");
  return Buffer.concat([Buffer.from([bytes.length]), bytes]);
}

/** A header block of "literal header field without indexing, new name" entries. */
export function encodeHeaderBlock(headers) {
  const parts = [];
  for (const [name, value] of Object.entries(headers))
    parts.push(Buffer.from([0x00]), hpackString(name), hpackString(value));
  return Buffer.concat(parts);
}

/**
 * Opens one h2c connection.
 * @param {{ port: number, host?: string, onData: (streamId: number, payload: Buffer) => void,
 *   onStreamEnd: (streamId: number, why: string) => void, onError: (error: Error) => void }} handlers
 */
export function connectRaw({ port, host = "127.0.0.1", onData, onStreamEnd, onError }) {
  const socket = net.connect(port, host);
  socket.setNoDelay(true);
  // Our SETTINGS: no push, the largest stream window (so no per-stream WINDOW_UPDATE is ever needed), and a
  // connection window raised to the maximum; replenished below after each 1 GiB received.
  const settings = Buffer.alloc(12);
  settings.writeUInt16BE(0x2, 0); // ENABLE_PUSH
  settings.writeUInt32BE(0, 2);
  settings.writeUInt16BE(0x4, 6); // INITIAL_WINDOW_SIZE
  settings.writeUInt32BE(maxWindow, 8);
  const windowIncrement = Buffer.alloc(4);
  windowIncrement.writeUInt32BE(maxWindow - 65535);
  socket.write(
    Buffer.concat([
      preface,
      frame(FRAME_SETTINGS, 0, 0, settings),
      frame(FRAME_WINDOW_UPDATE, 0, 0, windowIncrement),
    ]),
  );

  let nextStreamId = 1;
  let pending = null;
  let received = 0;
  socket.on("error", onError);
  socket.on("close", () => onError(new Error("connection closed")));
  socket.on("data", (chunk) => {
    const buffer = pending ? Buffer.concat([pending, chunk]) : chunk;
    pending = null;
    let offset = 0;
    while (buffer.length - offset >= 9) {
      const length = buffer.readUIntBE(offset, 3);
      if (buffer.length - offset < 9 + length) break;
      const type = buffer[offset + 3];
      const flags = buffer[offset + 4];
      const streamId = buffer.readUInt32BE(offset + 5) & 0x7fffffff;
      const start = offset + 9;
      const end = start + length;
      offset = end;
      switch (type) {
        case FRAME_DATA: {
          let from = start;
          let to = end;
          if (flags & FLAG_PADDED) {
            to -= buffer[from];
            from += 1;
          }
          received += length;
          if (to > from) onData(streamId, buffer.subarray(from, to));
          if (flags & FLAG_END_STREAM) onStreamEnd(streamId, "server ended the stream");
          break;
        }
        case FRAME_HEADERS: {
          if (flags & FLAG_END_STREAM) onStreamEnd(streamId, "server sent trailers");
          if (!(flags & FLAG_END_HEADERS)) onError(new Error("CONTINUATION frames are not supported here"));
          break;
        }
        case FRAME_RST_STREAM:
          onStreamEnd(streamId, `RST_STREAM ${buffer.readUInt32BE(start)}`);
          break;
        case FRAME_SETTINGS:
          if (!(flags & FLAG_ACK)) socket.write(frame(FRAME_SETTINGS, FLAG_ACK, 0, Buffer.alloc(0)));
          break;
        case FRAME_PING:
          if (!(flags & FLAG_ACK)) socket.write(frame(FRAME_PING, FLAG_ACK, 0, buffer.subarray(start, end)));
          break;
        case FRAME_GOAWAY:
          onError(new Error(`GOAWAY ${buffer.readUInt32BE(start + 4)}`));
          break;
        default:
          break; // WINDOW_UPDATE, PRIORITY, CONTINUATION (never expected), unknown types: nothing to do
      }
    }
    if (offset < buffer.length) pending = Buffer.from(buffer.subarray(offset));
    if (received > 1 << 30) {
      const increment = Buffer.alloc(4);
      increment.writeUInt32BE(received);
      socket.write(frame(FRAME_WINDOW_UPDATE, 0, 0, increment));
      received = 0;
    }
  });

  return {
    socket,
    /** Sends a request with a body; returns its stream id. */
    request(headerBlock, body) {
      const streamId = nextStreamId;
      nextStreamId += 2;
      socket.cork();
      socket.write(frame(FRAME_HEADERS, FLAG_END_HEADERS, streamId, headerBlock));
      socket.write(frame(FRAME_DATA, FLAG_END_STREAM, streamId, body));
      socket.uncork();
      return streamId;
    },
    /**
     * Resets a stream (RST_STREAM, CANCEL by default). Frames the server had already sent on it still
     * arrive afterwards: the caller must ignore what comes for a stream id it no longer knows.
     */
    cancel(streamId, code = CANCEL) {
      const payload = Buffer.allocUnsafe(4);
      payload.writeUInt32BE(code);
      socket.write(frame(FRAME_RST_STREAM, 0, streamId, payload));
    },
    close() {
      socket.destroy();
    },
  };
}
