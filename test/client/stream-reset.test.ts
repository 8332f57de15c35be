// A call that completes sends no RST_STREAM. Our client used to reset every stream as the call ended
// (CANCEL, while node was still in the END_STREAM frame's callback); nghttp2 servers count the resets a
// client sends (rapid-reset defence: 1,000, then 33 a second) and GOAWAY(INTERNAL_ERROR) the session past
// that, failing the calls on it with "Session closed with error code 2". Counted on the wire here, through
// a TCP relay that reads the client's frame headers.
import net from "node:net";
import t, { type Test } from "tap";
import { createHealthClient } from "../../src/client/health-client.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { http2Preface } from "../../src/server/port-listener.ts";
import { listenLocal, startServer } from "../fixtures/start-server.ts";

const rstStream = 3;

/** A relay to `port` that counts the RST_STREAM frames the client sends. */
async function frameCountingRelay(t: Test, port: number) {
  const counts = { rstStream: 0, frames: 0 };
  const relay = await listenLocal(
    net.createServer((client) => {
      const upstream = net.connect(port, "127.0.0.1");
      let pending = Buffer.alloc(0);
      let prefaceLeft = http2Preface.length;
      client.on("data", (chunk: Buffer) => {
        upstream.write(chunk);
        pending = Buffer.concat([pending, chunk]);
        if (prefaceLeft > 0) {
          const skipped = Math.min(prefaceLeft, pending.length);
          pending = pending.subarray(skipped);
          prefaceLeft -= skipped;
        }
        while (pending.length >= 9) {
          const length = pending.readUIntBE(0, 3);
          if (pending.length < 9 + length) break;
          counts.frames++;
          if (pending[3] === rstStream) counts.rstStream++;
          pending = pending.subarray(9 + length);
        }
      });
      upstream.pipe(client);
      client.on("error", () => upstream.destroy());
      upstream.on("error", () => client.destroy());
      client.on("close", () => upstream.destroy());
    }),
    t,
  );
  return { relay, counts };
}

t.test("completed calls send no RST_STREAM; a cancelled one does", async (t) => {
  const { port } = await startServer(t);
  const { relay, counts } = await frameCountingRelay(t, port);
  const client = createHealthClient(relay.url, { protocol: "triple" });
  t.teardown(() => client.close());
  for (let i = 0; i < 50; i++) t.equal(await client.check(), ServingStatus.Serving);
  t.ok(counts.frames >= 100, `client frames seen: ${counts.frames}`);
  t.equal(counts.rstStream, 0, "no reset for a call that completed");

  // The counter works: a Watch cancelled while open is reset (CANCEL).
  const controller = new AbortController();
  const watch = client.watch("", { signal: controller.signal });
  t.equal((await watch.next()).value, ServingStatus.Serving);
  controller.abort();
  await watch.next().catch(() => {});
  t.ok(
    await (async () => {
      for (let i = 0; i < 100 && counts.rstStream === 0; i++) await new Promise((r) => setTimeout(r, 20));
      return counts.rstStream === 1;
    })(),
    "the cancelled Watch was reset",
  );
});
