// One client address flooding Watch (issue 16, fair shares): with the defaults (maxWatchers 10,000, so a
// share of 5,000 per address) 55 connections x 100 Watch streams from 127.0.0.1 get 5,000 watchers and 500
// RESOURCE_EXHAUSTED, a client from 127.0.0.2 still gets its Watch, and the server's memory (a child
// process, RSS after a full GC) grows by what 5,000 watchers cost and no more; a second flood after the
// first left finds every slot back and no more memory held.
import http2 from "node:http2";
import net from "node:net";
import t from "tap";
import { grpcHeaders } from "../fixtures/h2-request.ts";
import { checkRequestBytes, envelope, until } from "../server/fixtures/helpers.ts";
import { inMiB, startChildServer } from "./fixtures/child-server.ts";

interface Flood {
  sessions: http2.ClientHttp2Session[];
  watching: number;
  refused: number;
  other: number;
}

function connect(port: number, localAddress: string): http2.ClientHttp2Session {
  const session = http2.connect(`http://127.0.0.1:${port}`, {
    createConnection: () => net.connect({ host: "127.0.0.1", port, localAddress }),
  });
  session.on("error", () => {});
  return session;
}

// Opens `perSession` Watch streams on each session and counts how each began: a first message, or a
// Trailers-Only answer with its grpc-status.
function flood(sessions: http2.ClientHttp2Session[], perSession: number): Flood {
  const result: Flood = { sessions, watching: 0, refused: 0, other: 0 };
  for (const session of sessions) {
    for (let i = 0; i < perSession; i++) {
      const stream = session.request(grpcHeaders("/grpc.health.v1.Health/Watch"));
      let counted = false;
      stream.on("response", (headers) => {
        if (headers["grpc-status"] === undefined || counted) return;
        counted = true;
        if (headers["grpc-status"] === "8") result.refused++;
        else result.other++;
      });
      stream.on("data", () => {
        if (counted) return;
        counted = true;
        result.watching++;
      });
      stream.on("error", () => {});
      stream.end(envelope(checkRequestBytes("")));
    }
  }
  return result;
}

t.test(
  "a one-address Watch flood: refused past its share, bounded memory, others still served",
  async (t) => {
    const server = await startChildServer(t);
    const before = await server.rssAfterGc();
    const rounds: { rss: number; heapUsed: number }[] = [];
    for (const round of ["first", "second"]) {
      const sessions = Array.from({ length: 55 }, () => connect(server.port, "127.0.0.1"));
      const attack = flood(sessions, 100);
      await until(() => attack.watching + attack.refused + attack.other === 5_500, 60_000);
      t.equal(attack.watching, 5_000, `${round} flood: 5,000 watchers, the address's share`);
      t.equal(attack.refused, 500, `${round} flood: 500 RESOURCE_EXHAUSTED`);
      t.equal(attack.other, 0);

      const other = connect(server.port, "127.0.0.2");
      const legit = flood([other], 1);
      await until(() => legit.watching === 1, 10_000);
      t.pass(`${round} flood: a client from another address still gets its Watch`);

      const held = await server.rssAfterGc();
      rounds.push(held);
      const perWatcher = (held.rss - before.rss) / attack.watching;
      t.ok(
        perWatcher < 16 * 1024,
        `${round} flood: ${inMiB(before.rss)} → ${inMiB(held.rss)} MiB, ${(perWatcher / 1024).toFixed(1)} KiB per watcher (< 16)`,
      );
      for (const session of [...sessions, other]) session.destroy();
      // The server sees the sockets close; give it a moment to end the streams.
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    // RSS moves with the allocator's page reuse; the JS heap after a GC is what is really still held.
    const [first, second] = rounds as [{ rss: number; heapUsed: number }, { rss: number; heapUsed: number }];
    t.ok(
      second.heapUsed < first.heapUsed + 4 * 1024 * 1024,
      `the second flood holds no more than the first: heap ${inMiB(first.heapUsed)} vs ${inMiB(second.heapUsed)} MiB, RSS ${inMiB(first.rss)} vs ${inMiB(second.rss)} MiB`,
    );
  },
);
