import http2 from "node:http2";
import { headerListSize } from "../wire/header-list-size.ts";

/** A `stream` event listener of a node:http2 server, with the event's flags and raw header list. @internal */
export type StreamListener = (
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  flags?: number,
  rawHeaders?: string[],
) => void;

const tooLargeHeaders = Object.freeze({
  ":status": 431,
  "content-type": "text/plain; charset=utf-8",
});
const tooLargeBody = Buffer.from("431 request header fields too large\n");

/**
 * Wraps a server's `stream` listener so that no stream whose header list is over `maxBytes` reaches it:
 * such a stream is answered 431 and closed, its connection left serving. node:http2 checks
 * SETTINGS_MAX_HEADER_LIST_SIZE only once the peer has acknowledged our SETTINGS (it reads nghttp2's
 * *acknowledged* local settings, which until then are the protocol default: no limit), so a client that
 * never sends the SETTINGS ACK could otherwise have header lists of any size answered (hardening II,
 * item 11). After the ACK node itself resets such a stream (RST_STREAM ENHANCE_YOUR_CALM) before this runs.
 * @internal
 */
export function limitHeaderList(maxBytes: number, listener: StreamListener): StreamListener {
  return (stream, headers, flags, rawHeaders) => {
    if (rawHeaders !== undefined && headerListSize(rawHeaders) > maxBytes) {
      refuseStream(stream);
      return;
    }
    listener(stream, headers, flags, rawHeaders);
  };
}

function refuseStream(stream: http2.ServerHttp2Stream): void {
  stream.on("error", () => {});
  // The request body, if any, is not wanted: dropped as it comes, then the stream is gone.
  stream.resume();
  try {
    stream.respond(tooLargeHeaders);
    stream.end(tooLargeBody);
  } catch {
    /* c8 ignore next 2: only when the stream is already gone (its session torn down) as it arrives */
    stream.close(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
  }
}
