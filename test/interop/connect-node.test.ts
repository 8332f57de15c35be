// @connectrpc/connect-node 1.7 as the peer: its Connect, gRPC and gRPC-Web clients, JSON and binary,
// over HTTP/1.1 and h2c wherever the protocol allows it (gRPC needs HTTP/2).
import http from "node:http";
import { Code, ConnectError, createPromiseClient, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import t, { type Test } from "tap";
import { EsHealthService, EsMissingMethodService, EsServingStatus } from "../fixtures/interop-health-es.ts";
import { startConnectReference } from "../fixtures/interop-reference.ts";
import { eventually, type InteropTarget, startTarget, watchDeadlineMs } from "../fixtures/interop-target.ts";

type Protocol = "connect" | "grpc" | "grpcweb";
type HttpVersion = "1.1" | "2";

const factories = {
  connect: createConnectTransport,
  grpc: createGrpcTransport,
  grpcweb: createGrpcWebTransport,
} as const;

/** A transport whose connections the test closes itself (an idle h2 session or keep-alive socket would hold the process). */
function createTransport(
  t: Test,
  protocol: Protocol,
  httpVersion: HttpVersion,
  useBinaryFormat: boolean,
  baseUrl: string,
): Transport {
  const create = factories[protocol];
  if (httpVersion === "2") {
    const sessionManager = new Http2SessionManager(baseUrl);
    t.teardown(() => sessionManager.abort());
    return create({ baseUrl, httpVersion, useBinaryFormat, sessionManager });
  }
  const agent = new http.Agent({ keepAlive: false });
  t.teardown(() => agent.destroy());
  return create({ baseUrl, httpVersion, useBinaryFormat, nodeOptions: { agent } });
}

const combinations: { protocol: Protocol; httpVersion: HttpVersion; binary: boolean }[] = [];
for (const protocol of ["connect", "grpc", "grpcweb"] as const) {
  for (const httpVersion of ["2", "1.1"] as const) {
    if (protocol === "grpc" && httpVersion === "1.1") continue;
    for (const binary of [true, false]) combinations.push({ protocol, httpVersion, binary });
  }
}

for (const { protocol, httpVersion, binary } of combinations) {
  const label = `${protocol} ${binary ? "binary" : "json"} HTTP/${httpVersion}`;

  t.test(label, async (t) => {
    const target: InteropTarget = await startTarget(t, startConnectReference);
    const transport = createTransport(t, protocol, httpVersion, binary, target.url(httpVersion));
    const client = createPromiseClient(EsHealthService, transport);

    t.test("Check", async (t) => {
      const response = await client.check({ service: "greet.GreetService" }, { timeoutMs: 5000 });
      t.equal(response.status, EsServingStatus.SERVING);
      const whole = await client.check({ service: "" }, { timeoutMs: 5000 });
      t.equal(whole.status, EsServingStatus.SERVING, "the whole server");
    });

    t.test("Check of an unknown service", async (t) => {
      const error = await client.check({ service: "no.such.Service" }).then(
        () => undefined,
        (error: unknown) => error,
      );
      t.type(error, ConnectError);
      t.equal((error as ConnectError).code, Code.NotFound, `code ${Code[(error as ConnectError).code]}`);
      t.match((error as ConnectError).rawMessage, /\S/, "a message comes with it");
    });

    t.test("a method the server lacks", async (t) => {
      const missing = createPromiseClient(EsMissingMethodService, transport);
      const error = await missing.missing({ service: "" }).then(
        () => undefined,
        (error: unknown) => ConnectError.from(error),
      );
      t.equal(error?.code, Code.Unimplemented, `code ${error === undefined ? "OK" : Code[error.code]}`);
    });

    t.test("List", async (t) => {
      const response = await client.list({}, { timeoutMs: 5000 });
      t.equal(response.statuses["greet.GreetService"]?.status, EsServingStatus.SERVING);
    });

    t.test("Watch sees the current status, then a change", async (t) => {
      const abort = new AbortController();
      const stream = client.watch({ service: "greet.GreetService" }, { signal: abort.signal });
      const iterator = stream[Symbol.asyncIterator]();
      const first = await iterator.next();
      t.equal(first.value?.status, EsServingStatus.SERVING, "first message");
      target.set("greet.GreetService", "NOT_SERVING");
      const second = await iterator.next();
      t.equal(second.value?.status, EsServingStatus.NOT_SERVING, "the change");
      abort.abort();
      const end = await iterator.next().then(
        () => undefined,
        (error: unknown) => ConnectError.from(error).code,
      );
      t.equal(end, Code.Canceled, "the client ends it");
      t.equal(await eventually(() => target.watcherCount(), 0), 0, "the server let go of the watcher");
      target.set("greet.GreetService", "SERVING");
    });

    t.test("Watch with a deadline", async (t) => {
      const stream = client.watch({ service: "greet.GreetService" }, { timeoutMs: watchDeadlineMs });
      const seen: number[] = [];
      const code = await (async () => {
        for await (const message of stream) seen.push(message.status);
      })().then(
        () => undefined,
        (error: unknown) => ConnectError.from(error).code,
      );
      t.same(seen, [EsServingStatus.SERVING], "the current status, nothing more");
      t.equal(code, Code.DeadlineExceeded, `ended ${code === undefined ? "OK" : Code[code]}`);
      t.equal(await eventually(() => target.watcherCount(), 0), 0, "the server let go of the watcher");
    });

    t.test("Watch beyond the server's watcher limit fails resource_exhausted", async (t) => {
      // An error before any message: Connect/triple streaming send it in the end-stream message
      // (HTTP 200), gRPC and gRPC-Web as the status.
      const limited = await startTarget(t, startConnectReference, { maxWatchers: 1 });
      const limitedClient = createPromiseClient(
        EsHealthService,
        createTransport(t, protocol, httpVersion, binary, limited.url(httpVersion)),
      );
      const abort = new AbortController();
      const first = limitedClient.watch({ service: "" }, { signal: abort.signal })[Symbol.asyncIterator]();
      t.equal((await first.next()).value?.status, EsServingStatus.SERVING, "the first watcher is served");
      const error = await limitedClient
        .watch({ service: "" })
        [Symbol.asyncIterator]()
        .next()
        .then(
          () => undefined,
          (error: unknown) => ConnectError.from(error),
        );
      t.equal(error?.code, Code.ResourceExhausted, `code ${error === undefined ? "OK" : Code[error.code]}`);
      t.match(error?.rawMessage, /\S/, "a message comes with it");
      abort.abort();
      await first.next().catch(() => undefined);
    });

    // Last: it closes the server.
    t.test("closing the server ends Watch: NOT_SERVING, then a clean end", async (t) => {
      const iterator = client.watch({ service: "greet.GreetService" })[Symbol.asyncIterator]();
      t.equal((await iterator.next()).value?.status, EsServingStatus.SERVING, "first message");
      const closing = target.shutdown();
      t.equal((await iterator.next()).value?.status, EsServingStatus.NOT_SERVING, "the last word");
      const end = await iterator.next().then(
        (result) => (result.done ? "done" : result.value),
        (error: unknown) => ConnectError.from(error),
      );
      // A clean end: done (nothing will change any more) or unavailable (go elsewhere).
      t.ok(end === "done" || (end as ConnectError).code === Code.Unavailable, `ended with ${String(end)}`);
      await closing;
    });
  });
}
