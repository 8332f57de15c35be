// The admin client against a real HTTP server that answers with bodies of chosen sizes: the response
// limit is on by default, named in the error, raised by an option, and stops reading a long answer early.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import t, { type Test } from "tap";
import { AdminRequestError, createAdminClient } from "../../src/health/admin-client.ts";

const defaultLimit = 4 * 1024 * 1024;

/** A JSON report of exactly `size` bytes (padded in an extra field the client passes through). */
function reportOfSize(size: number): Buffer {
  const head = '{"draining":false,"shutdown":false,"services":[],"pad":"';
  const tail = '"}';
  return Buffer.from(head + "x".repeat(size - head.length - tail.length) + tail);
}

interface Served {
  addr: string;
  /** Per response, once it has closed: whether the server finished writing it, and how much it wrote. */
  closed: Promise<{ finished: boolean; written: number }>[];
}

/** Serves `answer` for every request, until the test ends. */
async function serve(t: Test, answer: (res: ServerResponse, req: IncomingMessage) => void): Promise<Served> {
  const closed: Served["closed"] = [];
  const server = createServer((req, res) => {
    req.resume();
    closed.push(
      new Promise((resolve) =>
        res.on("close", () => resolve({ finished: res.writableFinished, written: sent.get(res) ?? 0 })),
      ),
    );
    answer(res, req);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { addr: `127.0.0.1:${(server.address() as AddressInfo).port}`, closed };
}

// Body bytes handed to each streamed response so far.
const sent = new WeakMap<ServerResponse, number>();

/** Streams about `total` bytes of a JSON string in 64 KiB chunks (no content-length), minding backpressure. */
function streamLongAnswer(res: ServerResponse, status: number, total: number): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.write('{"error":"');
  const chunk = Buffer.alloc(64 * 1024, 0x78);
  let count = 0;
  const pump = () => {
    while (count < total && !res.destroyed) {
      count += chunk.length;
      sent.set(res, count);
      if (!res.write(chunk)) return void res.once("drain", pump);
    }
    if (!res.destroyed) res.end('"}');
  };
  pump();
}

t.test("an answer of exactly the default limit is read", async (t) => {
  const { addr } = await serve(t, (res) => res.end(reportOfSize(defaultLimit)));
  const report = await createAdminClient(addr).status();
  t.equal(Buffer.byteLength(JSON.stringify(report)), defaultLimit);
});

t.test("one byte over the default limit is refused from content-length, naming the limit", async (t) => {
  const { addr } = await serve(t, (res) => res.end(reportOfSize(defaultLimit + 1)));
  const error = await createAdminClient(addr)
    .status()
    .catch((e: unknown) => e);
  t.type(error, AdminRequestError);
  t.equal((error as AdminRequestError).status, 200);
  t.equal(
    (error as AdminRequestError).message,
    `the answer is larger than the limit of ${defaultLimit} bytes (maxResponseBytes)`,
  );
  const raised = await createAdminClient(addr, { maxResponseBytes: defaultLimit + 1 }).status();
  t.equal(raised.shutdown, false, "maxResponseBytes raises the limit");
});

t.test("a long answer without content-length is cut off at the limit, whatever its status", async (t) => {
  const total = 64 * 1024 * 1024;
  const served = await serve(t, (res, req) => streamLongAnswer(res, req.method === "GET" ? 200 : 500, total));
  const client = createAdminClient(served.addr, { maxResponseBytes: 1024 * 1024 });
  await t.rejects(client.status(), {
    constructor: AdminRequestError,
    status: 200,
    message: "the answer is larger than the limit of 1048576 bytes (maxResponseBytes)",
  });
  // An error status: the client reads the body for its `error` text, under the same limit.
  await t.rejects(client.drain(), {
    constructor: AdminRequestError,
    status: 500,
    message: /limit of 1048576 bytes/,
  });
  t.equal(served.closed.length, 2);
  for (const { finished, written } of await Promise.all(served.closed)) {
    t.notOk(finished, "the server never finished its answer");
    t.ok(written < total / 2, `the client stopped reading early: ${written} of ${total} bytes written`);
  }
});
