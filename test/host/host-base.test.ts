// The lifecycle every host shares (src/host/host-base.ts): listen once, close once, hooks in order,
// health shut down with the host's name, its Watch streams ended before GOAWAY; and PortListener's
// generic drain step, which runs after the port stops accepting and before GOAWAY.
import type http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import t from "tap";
import { healthCodecs } from "../../src/codec/health-codecs.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { HealthRegistry } from "../../src/health/registry.ts";
import { HostBase, type PortListeners } from "../../src/host/host-base.ts";
import { createTripleProxy } from "../../src/host/triple-proxy.ts";
import { createTripleServer } from "../../src/host/triple-server.ts";
import { PortListener } from "../../src/server/port-listener.ts";
import { RpcHandler } from "../../src/server/rpc-handler.ts";
import { grpcHeaders } from "../fixtures/h2-request.ts";
import { checkRequestBytes, envelope, envelopes, until } from "../server/fixtures/helpers.ts";

/** A host that records its hooks and answers what no RPC claims with 404. */
class RecordingHost extends HostBase {
  readonly hooks: string[] = [];
  readonly #handler: RpcHandler;

  constructor(health = new HealthRegistry()) {
    const handler = new RpcHandler();
    super({ noun: "test host", transport: {}, health, handler, healthService: {} });
    this.#handler = handler;
  }

  get isOpen(): boolean {
    return this.open;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  protected override listeners(): PortListeners {
    this.hooks.push("listeners");
    return {
      onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
        if (!this.#handler.handleStream(stream, headers))
          stream.respond({ ":status": 404 }, { endStream: true });
      },
      onRequest: (req: http.IncomingMessage, res: http.ServerResponse) => {
        if (!this.#handler.handleRequest(req, res)) res.writeHead(404).end();
      },
    };
  }

  protected override onListening(): void {
    this.hooks.push(`listening on ${this.port}`);
  }

  protected override async onClosed(): Promise<void> {
    this.hooks.push(`closed with ${this.connections} connections`);
  }
}

t.test("listen once, close once: hooks in order, state getters, errors named after the host", async (t) => {
  const host = new RecordingHost();
  host.health.set("svc", ServingStatus.Serving);
  const reasons: string[] = [];
  host.health.onChange((change) => reasons.push(change.reason));
  t.equal(host.port, 0);
  t.equal(host.address, undefined);
  t.equal(host.connections, 0);
  t.equal(host.isOpen, false, "not open before listen()");
  const address = await host.listen();
  t.equal(address.host, "127.0.0.1");
  t.same(host.address, address);
  t.equal(host.isOpen, true);
  t.same(host.hooks, ["listeners", `listening on ${address.port}`]);
  await t.rejects(host.listen(0), { message: "the test host is already listening" });

  const socket = net.connect(address.port, "127.0.0.1");
  socket.on("error", () => {});
  await new Promise((resolve) => socket.on("connect", resolve));
  await until(() => host.connections === 1);

  const closing = host.close({ graceMs: 100 });
  t.equal(host.isOpen, false, "not open once close() was called");
  t.equal(host.isClosed, true);
  t.equal(host.close(), closing, "a second close() is the same close");
  t.equal(host.health.isShutdown, true, "health shut down at once");
  t.ok(reasons.length > 0, "health changed");
  t.same(new Set(reasons), new Set(["test host closing"]), "every change names the host as the reason");
  await closing;
  t.same(host.hooks.slice(2), ["closed with 0 connections"], "onClosed runs once every connection is gone");
  t.equal(host.connections, 0);
  t.same(host.address, address, "the address stays known after close()");
  await t.rejects(host.listen(0), { message: "the test host is already listening" });
});

t.test("close before listen: health shut down, onClosed still runs, listen() then refused", async (t) => {
  const host = new RecordingHost();
  await host.close();
  t.equal(host.health.isShutdown, true);
  t.same(host.hooks, ["closed with 0 connections"]);
  await t.rejects(host.listen(0), { message: "the test host is closed" });
  t.same(host.hooks, ["closed with 0 connections"], "a refused listen() asks for no listeners");
});

t.test("a failed listen leaves the host able to listen again", async (t) => {
  const taken = new RecordingHost();
  const { port } = await taken.listen();
  t.teardown(() => taken.close({ graceMs: 0 }));
  const host = new RecordingHost();
  await t.rejects(host.listen(port, "127.0.0.1"), { code: "EADDRINUSE" });
  t.equal(host.isOpen, false);
  const address = await host.listen();
  t.ok(address.port > 0);
  await host.close({ graceMs: 0 });
});

t.test(
  "close: Watch streams see NOT_SERVING, then GOAWAY, then UNAVAILABLE at the grace deadline",
  async (t) => {
    const health = new HealthRegistry();
    health.set("svc", ServingStatus.Serving);
    const host = new RecordingHost(health);
    const { port } = await host.listen();
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", () => {});
    const events: string[] = [];
    session.once("goaway", () => events.push("goaway"));
    // A Watch that stays open after GOAWAY (an application's own Watch call; grpc-go's health check
    // would cancel it): it is ended only at the deadline, GOAWAY having told the client to go elsewhere.
    const watch = session.request(grpcHeaders("/grpc.health.v1.Health/Watch"));
    watch.end(envelope(checkRequestBytes("svc")));
    watch.on("data", (chunk: Buffer) => {
      for (const e of envelopes(chunk))
        events.push(`status ${healthCodecs.checkResponse.decodeBinary(e.payload).status}`);
    });
    let endedAfterMs = 0;
    watch.on("trailers", (trailers) => {
      endedAfterMs = Date.now() - started;
      events.push(`${trailers["grpc-status"]} ${trailers["grpc-message"]}`);
    });
    await until(() => events.length === 1);
    const started = Date.now();
    await host.close({ graceMs: 400 });
    t.same(events, [
      `status ${ServingStatus.Serving}`,
      `status ${ServingStatus.NotServing}`,
      "goaway",
      "14 the test host is shutting down",
    ]);
    t.ok(endedAfterMs >= 400, `the stream stayed open for the grace (${endedAfterMs} ms)`);
    t.equal(health.watcherCount, 0);
    session.destroy();
  },
);

t.test("the proxy's own Watch streams end the same way, naming the proxy", async (t) => {
  const proxy = createTripleProxy({
    upstreams: ["127.0.0.1:1"],
    picker: { backoff: { initialMs: 10_000, maxMs: 10_000 } },
  });
  const { port } = await proxy.listen();
  t.equal(proxy.address?.port, port);
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on("error", () => {});
  const watch = session.request(grpcHeaders("/grpc.health.v1.Health/Watch"));
  watch.end(envelope(checkRequestBytes("")));
  const statuses: number[] = [];
  let trailers: http2.IncomingHttpHeaders | undefined;
  watch.on("data", (chunk: Buffer) => {
    for (const e of envelopes(chunk))
      statuses.push(healthCodecs.checkResponse.decodeBinary(e.payload).status);
  });
  watch.on("trailers", (received) => {
    trailers = received;
  });
  await until(() => statuses.length === 1);
  t.equal(proxy.connections, 1, "the caller's connection is counted");
  await proxy.close({ graceMs: 500 });
  t.same(statuses, [ServingStatus.NotServing], "no upstream serving, then still NOT_SERVING (no change)");
  t.equal(trailers?.["grpc-status"], "14");
  t.equal(trailers?.["grpc-message"], "the proxy is shutting down");
  t.equal(proxy.connections, 0);
  await t.rejects(proxy.listen(0), { message: "the proxy is already listening" });
  session.destroy();
});

t.test(
  "a server's services are SERVING from listen() on, also those added later; none after close",
  async (t) => {
    const server = createTripleServer();
    server.addService("early.Added", {});
    t.equal(server.health.get("early.Added"), undefined, "unknown before listen()");
    await server.listen();
    t.equal(server.health.get("early.Added"), ServingStatus.Serving);
    server.addService("late.Added", {});
    t.equal(server.health.get("late.Added"), ServingStatus.Serving);
    const closing = server.close({ graceMs: 0 });
    server.addService("closing.Added", {});
    t.equal(
      server.health.get("closing.Added"),
      undefined,
      "a service added while closing is not marked SERVING",
    );
    await closing;
  },
);

t.test(
  "PortListener.closeGracefully: drain runs after the port stops accepting and before GOAWAY",
  async (t) => {
    const listener = new PortListener({
      onStream: (stream) => stream.respond({ ":status": 200 }, { endStream: true }),
      onRequest: (_req, res) => res.end(),
    });
    const { port } = await listener.listen(0, "127.0.0.1");
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", () => {});
    const steps: string[] = [];
    session.once("goaway", () => steps.push("goaway"));
    await new Promise((resolve) => session.on("connect", resolve));
    await listener.closeGracefully(500, async () => {
      steps.push(`drain (accepting: ${listener.server.listening})`);
      await new Promise((resolve) => setTimeout(resolve, 20));
      steps.push("drained");
    });
    await until(() => steps.includes("goaway"));
    t.same(steps, ["drain (accepting: false)", "drained", "goaway"]);
    t.equal(listener.sockets.size, 0);
    session.destroy();
  },
);
