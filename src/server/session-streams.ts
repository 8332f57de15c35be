import type http2 from "node:http2";

/** Something that follows the streams of one HTTP/2 session (connection guard, empty-session timer, watchdog). @internal */
export interface StreamTracker {
  streamOpened(stream: http2.ServerHttp2Stream): void;
  streamClosed(stream: http2.ServerHttp2Stream): void;
}

/**
 * Tells each tracker of a session when one of its streams opens and closes, through one `stream` listener
 * per session and one `close` listener per stream, whatever the number of trackers. Every listener a
 * stream carries costs each stream (a third `close` listener grows node's listener array to 19 slots):
 * a Watch stream lives for hours, 100,000 at a time. A closure per stream, as by `close` node has cleared
 * `stream.session`: a shared function could not find the session's trackers.
 * @internal
 */
export function trackStreams(session: http2.ServerHttp2Session, trackers: readonly StreamTracker[]): void {
  if (trackers.length === 0) return;
  session.on("stream", (stream: http2.ServerHttp2Stream) => {
    for (const tracker of trackers) tracker.streamOpened(stream);
    stream.on("close", () => {
      for (const tracker of trackers) tracker.streamClosed(stream);
    });
  });
}
