// @apachedubbo/dubbo-node 3.0.0-alpha as the peer: the Dubbo team's TypeScript triple client
// (Connect-shaped with TRI-* headers; errors carry a numeric `status`), proto and JSON, h2c and HTTP/1.1.
import http from "node:http";
import { type CallOptions, Code, createPromiseClient, DubboError } from "@apachedubbo/dubbo";
import { createDubboTransport, Http2SessionManager } from "@apachedubbo/dubbo-node";
import t, { type Test } from "tap";
import { EsServingStatus } from "../fixtures/interop-health-es.ts";
import {
  dubboGroupAndVersion,
  dubboHealthService,
  startDubboReference,
} from "../fixtures/interop-reference.ts";
import { eventually, startTarget, watchDeadlineMs } from "../fixtures/interop-target.ts";

type HttpVersion = "1.1" | "2";

/** The promise client dubbo-js generates for grpc.health.v1.Health (typed here: see dubboHealthService). */
interface HealthClient {
  check(request: { service: string }, options?: CallOptions): Promise<{ status: number }>;
  watch(request: { service: string }, options?: CallOptions): AsyncIterable<{ status: number }>;
}

/**
 * dubbo-node keeps its h2 session open after a call: the test owns and closes it — once no stream
 * is open on it: a stream closing after abort() re-arms the manager's 15-minute idle timer
 * (http2-session-manager.js registerRequest → resetIdleTimeout after cleanup), holding the process.
 */
function createTransport(t: Test, httpVersion: HttpVersion, useBinaryFormat: boolean, baseUrl: string) {
  if (httpVersion === "2") {
    const sessionManager = new Http2SessionManager(baseUrl);
    t.teardown(async () => {
      await eventually(() => sessionManager.state() === "open", false, 2000);
      sessionManager.abort();
    });
    return createDubboTransport({ baseUrl, httpVersion, useBinaryFormat, sessionManager });
  }
  const agent = new http.Agent({ keepAlive: false });
  t.teardown(() => agent.destroy());
  return createDubboTransport({ baseUrl, httpVersion, useBinaryFormat, nodeOptions: { agent } });
}

for (const httpVersion of ["2", "1.1"] as const) {
  for (const binary of [true, false]) {
    t.test(`triple ${binary ? "proto" : "json"} HTTP/${httpVersion}`, async (t) => {
      const target = await startTarget(t, startDubboReference);
      const transport = createTransport(t, httpVersion, binary, target.url(httpVersion));
      const client = createPromiseClient(dubboHealthService, transport) as unknown as HealthClient;

      t.test("Check", async (t) => {
        let contentType: string | null = null;
        const response = await client.check(
          { service: "greet.GreetService" },
          { timeoutMs: 5000, onHeader: (headers) => (contentType = headers.get("content-type")) },
        );
        t.equal(response.status, EsServingStatus.SERVING);
        t.equal(
          (contentType as string | null)?.replace(/;.*/, ""),
          binary ? "application/proto" : "application/json",
          "answered in the request's codec",
        );
      });

      t.test("Check with Dubbo's service group and version", async (t) => {
        // The options only add TRI-Service-Group / TRI-Service-Version: a server must accept them.
        const grouped = createPromiseClient(
          dubboHealthService,
          transport,
          dubboGroupAndVersion,
        ) as unknown as HealthClient;
        const response = await grouped.check({ service: "" }, { timeoutMs: 5000 });
        t.equal(response.status, EsServingStatus.SERVING);
      });

      t.test("Check of an unknown service", async (t) => {
        const error = await client.check({ service: "no.such.Service" }).then(
          () => undefined,
          (error: unknown) => error,
        );
        t.type(error, DubboError);
        // dubbo-js reads the numeric `status` of the JSON body; without it the code comes from the
        // HTTP status alone (404 → unimplemented), which is how this assertion can fail.
        t.equal((error as DubboError).code, Code.NotFound, `code ${Code[(error as DubboError).code]}`);
        t.match((error as DubboError).rawMessage, /\S/, "a message comes with it");
      });

      t.test("Watch sees the current status, then a change", async (t) => {
        const abort = new AbortController();
        const iterator = client
          .watch({ service: "greet.GreetService" }, { signal: abort.signal })
          [Symbol.asyncIterator]();
        const first = await iterator.next();
        t.equal(first.value?.status, EsServingStatus.SERVING, "first message");
        target.set("greet.GreetService", "NOT_SERVING");
        const second = await iterator.next();
        t.equal(second.value?.status, EsServingStatus.NOT_SERVING, "the change");
        abort.abort();
        const end = await iterator.next().then(
          () => undefined,
          (error: unknown) => DubboError.from(error).code,
        );
        t.equal(end, Code.Canceled, "the client ends it");
        t.equal(await eventually(() => target.watcherCount(), 0), 0, "the server let go of the watcher");
        target.set("greet.GreetService", "SERVING");
      });

      t.test("Watch with a deadline", async (t) => {
        const seen: number[] = [];
        const code = await (async () => {
          for await (const message of client.watch({ service: "" }, { timeoutMs: watchDeadlineMs }))
            seen.push(message.status);
        })().then(
          () => undefined,
          (error: unknown) => DubboError.from(error).code,
        );
        t.same(seen, [EsServingStatus.SERVING], "the current status, nothing more");
        t.equal(code, Code.DeadlineExceeded, `ended ${code === undefined ? "OK" : Code[code]}`);
        t.equal(await eventually(() => target.watcherCount(), 0), 0, "the server let go of the watcher");
      });

      t.test("Watch beyond the server's watcher limit fails resource_exhausted", async (t) => {
        // An error before any message: Connect/triple streaming send it in the end-stream message
        // (HTTP 200), gRPC and gRPC-Web as the status.
        const limited = await startTarget(t, startDubboReference, { maxWatchers: 1 });
        const limitedClient = createPromiseClient(
          dubboHealthService,
          createTransport(t, httpVersion, binary, limited.url(httpVersion)),
        ) as unknown as HealthClient;
        const abort = new AbortController();
        const first = limitedClient.watch({ service: "" }, { signal: abort.signal })[Symbol.asyncIterator]();
        t.equal((await first.next()).value?.status, EsServingStatus.SERVING, "the first watcher is served");
        const error = await limitedClient
          .watch({ service: "" })
          [Symbol.asyncIterator]()
          .next()
          .then(
            () => undefined,
            (error: unknown) => DubboError.from(error),
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
          (error: unknown) => DubboError.from(error),
        );
        // A clean end: done (nothing will change any more) or unavailable (go elsewhere).
        t.ok(end === "done" || (end as DubboError).code === Code.Unavailable, `ended with ${String(end)}`);
        await closing;
      });
    });
  }
}
