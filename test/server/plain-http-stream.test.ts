// Streamed plain HTTP answers (PlainHttpResponse.stream), what the admin event stream is built on.
import t from "tap";
import type { PlainHttpHandler, PlainHttpStream } from "../../src/server/service-types.ts";
import { openEventStream } from "../fixtures/event-stream.ts";
import { h2once } from "../fixtures/h2-request.ts";
import { startServer } from "../fixtures/start-server.ts";
import { grpcCheck, waitFor } from "../hardening/fixtures/attack.ts";

for (const version of ["1.1", "2"] as const) {
  t.test(
    `HTTP/${version}: the head at once, chunks as written, signal aborted when the client goes`,
    async (t) => {
      let open: PlainHttpStream | undefined;
      const handler: PlainHttpHandler = (request) =>
        request.path !== "/stream"
          ? undefined
          : {
              status: 200,
              headers: { "Content-Type": "text/event-stream" },
              stream: (out) => {
                open = out;
                t.equal(out.write("data: one\n\n"), true);
              },
            };
      const { port } = await startServer(t, { plainHttpHandlers: [handler] });
      const events = await openEventStream(port, version, "/stream");
      t.equal(events.status, 200);
      t.equal(events.headers["content-type"], "text/event-stream", "header names lower-cased");
      t.same(await events.next(), { event: "message", data: "one" });
      open?.write(Buffer.from("data: two\n\n"));
      t.same(await events.next(), { event: "message", data: "two" }, "bytes too");
      t.equal(open?.signal.aborted, false);
      events.close();
      t.ok(await waitFor(() => open?.signal.aborted === true, 3000), "aborted when the client left");
      t.equal(open?.write("late"), false, "writes after it are refused");
      open?.end();
      t.equal(await grpcCheck(port), 1, "the server still answers a Check");
    },
  );

  t.test(`HTTP/${version}: end() ends the response, once`, async (t) => {
    const handler: PlainHttpHandler = () => ({
      status: 200,
      stream: (out) => {
        out.write("last");
        out.end();
        out.end();
        t.equal(out.signal.aborted, true);
      },
    });
    const { port } = await startServer(t, { plainHttpHandlers: [handler] });
    const response = await openEventStream(port, version, "/x");
    await response.ended;
    t.equal(response.text, "last");
  });

  t.test(`HTTP/${version}: a head node cannot write is a 500; the stream is told`, async (t) => {
    let told: boolean | undefined;
    const handler: PlainHttpHandler = () => ({
      status: 200,
      headers: { "bad header": "x" },
      stream: (out) => {
        told = out.signal.aborted;
      },
    });
    const { port } = await startServer(t, { plainHttpHandlers: [handler] });
    const response = await openEventStream(port, version, "/x");
    t.equal(response.status, 500);
    t.equal(told, true, "open was called with an aborted signal");
  });

  t.test(`HTTP/${version}: a stream function that throws after the head cuts the response`, async (t) => {
    const handler: PlainHttpHandler = () => ({
      status: 200,
      stream: (out) => {
        out.write("partial");
        throw new Error("bug");
      },
    });
    const { port } = await startServer(t, { plainHttpHandlers: [handler] });
    if (version === "2") {
      const result = await h2once(port, { ":method": "GET", ":path": "/x" });
      t.equal(result.status, 200);
      t.equal(result.rstCode, 2, "RST_STREAM INTERNAL_ERROR");
    } else {
      const response = await openEventStream(port, version, "/x");
      t.equal(response.status, 200);
      await response.ended;
    }
    t.equal(await grpcCheck(port), 1, "the server still answers a Check");
  });
}

t.test("a client gone before the head: open is told with an aborted signal", async (t) => {
  let told: boolean | undefined;
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const handler: PlainHttpHandler = async () => {
    await gate;
    return { status: 200, stream: (out) => (told = out.signal.aborted) };
  };
  const { port } = await startServer(t, { plainHttpHandlers: [handler] });
  const pending = h2once(port, { ":method": "GET", ":path": "/x" }, { timeoutMs: 200 });
  t.equal((await pending).timedOut, true);
  await new Promise((resolve) => setTimeout(resolve, 100));
  release();
  t.ok(await waitFor(() => told !== undefined, 3000));
  t.equal(told, true);
});
