import type http2 from "node:http2";

/** Something that follows the streams of one HTTP/2 session (connection guard, empty-session timer, watchdog). @internal */
export interface StreamTracker {
  streamOpened(stream: http2.ServerHttp2Stream): void;
  streamClosed(stream: http2.ServerHttp2Stream): void;
}

const kTrackers = Symbol("triple-health.trackers");
type TrackedStream = http2.ServerHttp2Stream & { [kTrackers]?: readonly StreamTracker[] };

// One function for every stream: by `close` node has cleared `stream.session`, so the trackers ride on the
// stream itself (one property, the same for every stream, where a closure per stream cost 72 bytes).
function onTrackedStreamClose(this: TrackedStream): void {
  const trackers = this[kTrackers];
  if (trackers === undefined) return;
  for (const tracker of trackers) tracker.streamClosed(this);
}

/**
 * Tells each tracker of a session when one of its streams opens and closes, through one `stream` listener
 * per session and one shared `close` listener per stream, whatever the number of trackers. Every listener a
 * stream carries costs each stream (a third `close` listener grows node's listener array to 19 slots), and
 * a Watch stream lives for hours, 100,000 at a time.
 * @internal
 */
export function trackStreams(session: http2.ServerHttp2Session, trackers: readonly StreamTracker[]): void {
  if (trackers.length === 0) return;
  session.on("stream", (stream: TrackedStream) => {
    for (const tracker of trackers) tracker.streamOpened(stream);
    stream[kTrackers] = trackers;
    stream.on("close", onTrackedStreamClose);
  });
}
