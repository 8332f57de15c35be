import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import t from "tap";
import { healthCodecs } from "../../src/codec/health-codecs.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { grpcHeaders, h2request } from "../fixtures/h2-request.ts";
import { checkRequestBytes, envelope, envelopes, startProbeServer, until } from "./fixtures/helpers.ts";

const greetName = (name: string) =>
  envelope(Buffer.from([0x0a, Buffer.byteLength(name), ...Buffer.from(name)]));

t.test(
  "graceful close: NOT_SERVING to watchers, GOAWAY, in-flight calls finish, streams left end UNAVAILABLE",
  async (t) => {
    const { server, url, port } = await startProbeServer(t);
    t.equal(
      server.health.get(""),
      ServingStatus.Serving,
      "the server as a whole is SERVING while it listens",
    );
    t.equal(server.health.get("test.Probe"), ServingStatus.Serving, "added services are SERVING");
    t.equal(server.health.get("grpc.health.v1.Health"), ServingStatus.Serving);
    server.addService("late.Added", {});
    t.equal(server.health.get("late.Added"), ServingStatus.Serving, "a service added while listening too");

    const session = http2.connect(url);
    let goaway = false;
    session.on("goaway", () => {
      goaway = true;
    });
    session.on("error", () => {});
    const watch = session.request(grpcHeaders("/grpc.health.v1.Health/Watch"));
    watch.end(envelope(checkRequestBytes("test.Probe")));
    const statuses: number[] = [];
    let watchTrailers: http2.IncomingHttpHeaders | undefined;
    watch.on("data", (chunk: Buffer) => {
      for (const e of envelopes(chunk))
        statuses.push(healthCodecs.checkResponse.decodeBinary(e.payload).status);
    });
    watch.on("trailers", (trailers) => {
      watchTrailers = trailers;
    });
    await until(() => statuses.length === 1);

    const slow = h2request(session, grpcHeaders("/test.Probe/Greet"), greetName("slow:300"));
    const otherStream = h2request(
      session,
      grpcHeaders("/test.Probe/Count"),
      envelope(checkRequestBytes("1hang")),
    );
    // An idle HTTP/1.1 keep-alive connection.
    const idle = net.connect(port, "127.0.0.1");
    let idleClosed = false;
    idle.on("close", () => {
      idleClosed = true;
    });
    await new Promise((resolve) => idle.on("connect", resolve));
    await new Promise((resolve) => setTimeout(resolve, 30));

    const started = Date.now();
    const closing = server.close({ graceMs: 1500 });
    t.equal(server.health.get("test.Probe"), ServingStatus.NotServing, "every status NOT_SERVING at once");
    t.equal(server.health.get(""), ServingStatus.NotServing);

    const slowResult = await slow;
    t.equal(slowResult.trailers?.["grpc-status"], "0", "the in-flight call finished");
    t.match(envelopes(slowResult.body)[0]!.payload.toString(), /slow done/);
    t.same(statuses, [ServingStatus.Serving, ServingStatus.NotServing], "the watcher saw NOT_SERVING");
    t.equal(watchTrailers, undefined, "and its stream stays open after GOAWAY (no re-open storm)");
    await closing;
    const closeMs = Date.now() - started;
    t.ok(closeMs >= 1500, `streams left open kept the connection for the grace (${closeMs} ms)`);
    t.equal(watchTrailers?.["grpc-status"], "14", "then the stream ended with UNAVAILABLE");
    t.equal((await otherStream).trailers?.["grpc-status"], "14", "other server streams end with UNAVAILABLE");
    t.ok(goaway, "GOAWAY received");
    await until(() => idleClosed);
    t.equal(server.health.watcherCount, 0);
    await t.rejects(
      new Promise((resolve, reject) => {
        const socket = net.connect(port, "127.0.0.1");
        socket.on("connect", () => {
          socket.destroy();
          resolve(undefined);
        });
        socket.on("error", reject);
      }),
      "no longer accepting connections",
    );
    session.destroy();
    await server.close();
    t.pass("closing twice is fine");
  },
);

t.test("graceful close: calls still running after the grace are cut off", async (t) => {
  const { server, url, port, calls } = await startProbeServer(t);
  const session = http2.connect(url);
  session.on("error", () => {});
  const hung = h2request(session, grpcHeaders("/test.Probe/Greet"), greetName("hang")).catch(
    (error: Error) => error,
  );
  // A hung HTTP/1.1 request too.
  const h1 = new Promise<Error | number>((resolve) => {
    const req = http.request(
      `http://127.0.0.1:${port}/test.Probe/Greet`,
      { method: "POST", headers: { "content-type": "application/json" }, agent: false },
      (res) => resolve(res.statusCode ?? 0),
    );
    req.on("error", resolve);
    req.end('{"name":"hang"}');
  });
  await until(() => calls.last !== undefined);
  await new Promise((resolve) => setTimeout(resolve, 30));
  const started = Date.now();
  await server.close({ graceMs: 150 });
  t.ok(Date.now() - started < 2000);
  const result = await hung;
  t.ok(
    result instanceof Error || (result as { trailers?: unknown }).trailers === undefined,
    "the call did not complete",
  );
  t.ok((await h1) instanceof Error, "the HTTP/1.1 connection was destroyed");
  session.destroy();
});

t.test("close before listen only shuts the registry down", async (t) => {
  const { createTripleServer } = await import("../../src/host/triple-server.ts");
  const server = createTripleServer({ healthService: false });
  await server.close();
  t.equal(server.health.isShutdown, true);
  t.equal(server.port, 0);
  t.equal(server.address, undefined);
});
