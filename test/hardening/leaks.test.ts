// Catalogue 22–24: 10,000 Watch streams opened and dropped in every way (RST_STREAM CANCEL and
// INTERNAL_ERROR, TCP socket destroyed with 100 streams open, deadline, Connect streaming cancelled,
// HTTP/1.1 aborted) leave 0 watchers, 0 server streams, 0 connections, and the heap back near its
// baseline. Runs in this process (a full GC is reachable without --expose-gc, see fixtures).
import t from "tap";
import { runLeakTest } from "./fixtures/leak-run.ts";

// Slack on the heap: the run's own bookkeeping, V8's code caches and tap's output buffers grow a little;
// one leaked watcher or stream per Watch would be ≥ 10,000 × several hundred bytes, i.e. several MiB.
const slackBytes = 6 * 1024 * 1024;

t.test("10,000 Watch streams opened and dropped leave nothing behind", async (t) => {
  const result = await runLeakTest(t, 10_000, 4);
  t.comment(JSON.stringify(result));
  t.equal(result.streams, 10_000, "10,000 streams opened");
  t.ok(result.peakWatchers >= 100, `watchers were really open at once (peak ${result.peakWatchers})`);
  t.ok(result.settled, "watchers, server streams and connections reached 0");
  t.equal(result.watchersLeft, 0, "watchers left: 0 (server.health.watcherCount)");
  t.equal(result.activeStreams, 0, "server streams left: 0 (server.handler.activeStreams)");
  t.equal(result.connectionsLeft, 0, "connections left: 0 (server.connections)");
  t.ok(
    result.heapGrowth < slackBytes,
    `heap growth ${(result.heapGrowth / 1024).toFixed(0)} KiB < ${slackBytes / 1024} KiB slack`,
  );
});
