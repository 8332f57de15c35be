import http2 from "node:http2";

const { NGHTTP2_ENHANCE_YOUR_CALM } = http2.constants;

/** A PING ACK on the wire: a 9-byte frame header and 8 bytes of payload. */
const pingAckBytes = 17;

/** Pings too early in a row tolerated before the GOAWAY (grpc-go's `maxPingStrikes`). @internal */
export const maxPingStrikes = 2;

/** The GOAWAY's debug data, as grpc-go sends it and as gRPC clients recognise it (gRFC A8). @internal */
export const tooManyPings = "too_many_pings";

function destroySession(session: http2.ServerHttp2Session): void {
  if (!session.destroyed) session.destroy(undefined, NGHTTP2_ENHANCE_YOUR_CALM);
}

/**
 * The server's policy against clients that ping too often (grpc-go's keepalive EnforcementPolicy). node
 * answers every PING itself, so a client could keep a server busy with them at no cost; a PING arriving
 * less than `minIntervalMs` after the previous one, while the server has sent nothing but PING ACKs since,
 * is a strike, and the third strike in a row gets GOAWAY(ENHANCE_YOUR_CALM, "too_many_pings") and the
 * connection closes a second later. Answers (any byte the server writes beyond the ACK) clear the strikes,
 * as grpc-go resets them when it sends data or headers, so a client measuring bandwidth with a PING per
 * response it reads is never cut.
 * @internal
 */
export function enforcePingPolicy(session: http2.ServerHttp2Session, minIntervalMs: number): void {
  let lastAt = -Infinity;
  let writtenAt = -1;
  let strikes = 0;
  let sentAway = false;
  session.on("ping", () => {
    const now = Date.now();
    const written = session.socket?.bytesWritten ?? 0;
    // The ACK of the previous PING is the only thing written since it: the server has said nothing.
    const quiet = written - writtenAt <= pingAckBytes;
    if (quiet && now - lastAt < minIntervalMs) strikes++;
    else if (!quiet) strikes = 0;
    lastAt = now;
    writtenAt = written;
    if (strikes <= maxPingStrikes || sentAway || session.closed || session.destroyed) return;
    sentAway = true;
    // Streams already taken may finish within the second; the final GOAWAY repeats the code.
    session.goaway(NGHTTP2_ENHANCE_YOUR_CALM, session.state.lastProcStreamID ?? 0, Buffer.from(tooManyPings));
    setTimeout(destroySession, 1_000, session).unref();
  });
}
