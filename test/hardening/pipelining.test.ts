// Hardening II item 9: while a Connect Watch streams over HTTP/1.1, a malformed or timed-out pipelined
// request made the clientError handler write `HTTP/1.1 400` / `408` into the middle of the chunked body.
// Once a response has started on a socket, nothing else may be written on it: the connection is destroyed.
import net from "node:net";
import t from "tap";
import { startServer } from "../fixtures/start-server.ts";
import { envelope, grpcCheck, h1Check, waitFor, watchPath } from "./fixtures/attack.ts";

const watchRequest = (() => {
  const body = envelope(0, Buffer.from('{"service":""}'));
  return Buffer.concat([
    Buffer.from(
      `POST ${watchPath} HTTP/1.1\r\nHost: x\r\nContent-Type: application/connect+json\r\nContent-Length: ${body.length}\r\n\r\n`,
      "latin1",
    ),
    body,
  ]);
})();

/** A Connect Watch over HTTP/1.1 on a raw socket; resolves once its first chunk of body has come. */
function watchSocket(
  port: number,
): Promise<{ socket: net.Socket; data: () => string; closed: Promise<boolean> }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.on("error", () => {});
    let data = "";
    const closed = new Promise<boolean>((done) => {
      const timer = setTimeout(() => done(false), 5000);
      socket.on("close", () => {
        clearTimeout(timer);
        done(true);
      });
    });
    socket.on("data", (chunk: Buffer) => {
      data += chunk.toString("latin1");
      // The head and the first message's chunk.
      if (/\r\n\r\n[0-9a-f]+\r\n/.test(data)) resolve({ socket, data: () => data, closed });
    });
    socket.write(watchRequest);
  });
}

const cases: Array<[string, Buffer]> = [
  ["a malformed pipelined request", Buffer.from("GARBAGE \u0001 NOT HTTP\r\n\r\n", "latin1")],
  // Half a head: node:http's headersTimeout answers it 408.
  ["a pipelined request head that times out", Buffer.from("POST /x HTTP/1.1\r\nHost: x\r\n", "latin1")],
];

for (const [what, pipelined] of cases) {
  t.test(
    `${what} behind a streaming Watch: the socket is destroyed, nothing written into the body`,
    async (t) => {
      const { port, server } = await startServer(t, {
        http1: { headersTimeout: 300, requestTimeout: 600 },
        connections: { firstRequestTimeoutMs: 0 },
      });
      const watch = await watchSocket(port);
      const head = watch.data();
      t.match(head, /^HTTP\/1\.1 200 /, "the Watch answers 200");
      t.match(head, /transfer-encoding: chunked/i, "with a chunked body");
      watch.socket.write(pipelined);
      t.ok(await watch.closed, "the connection is closed by the server");
      const after = watch.data().slice(head.length);
      t.notMatch(after, /HTTP\/1\.1/, "no status line inside the streaming body");
      t.equal(after, "", "nothing written after the error");
      t.ok(await waitFor(() => server.health.watcherCount === 0), "the watcher is freed");
      t.equal(await h1Check(port), 200, "an HTTP/1.1 Check is still answered");
      t.equal(await grpcCheck(port), 1, "an HTTP/2 Check still answers SERVING");
    },
  );
}

t.test("a malformed request with no response under way still gets its 400", async (t) => {
  const { port } = await startServer(t);
  const socket = net.connect(port, "127.0.0.1");
  socket.on("error", () => {});
  let data = "";
  socket.on("data", (chunk: Buffer) => {
    data += chunk.toString("latin1");
  });
  socket.write("GARBAGE \u0001 NOT HTTP\r\n\r\n");
  await new Promise((resolve) => socket.on("close", resolve));
  t.match(data, /HTTP\/1\.1 400 Bad Request\r\n/, "answered 400");
});
