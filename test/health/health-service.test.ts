import t from "tap";
import { type HealthCheckResponse, healthCodecs, ServingStatus } from "../../src/codec/health-types.ts";
import { createHealthService } from "../../src/health/health-service.ts";
import { HealthRegistry } from "../../src/health/registry.ts";
import type {
  CallContext,
  ServerStreamCall,
  ServerStreamingMethod,
  UnaryMethod,
} from "../../src/server/service-types.ts";
import { Code } from "../../src/wire/code.ts";
import { RpcError } from "../../src/wire/rpc-error.ts";

const { Serving, NotServing, ServiceUnknown } = ServingStatus;

function callContext(
  method: string,
  signal = new AbortController().signal,
  connection: object | undefined = undefined,
): CallContext {
  return {
    service: "grpc.health.v1.Health",
    method,
    protocol: "grpc",
    httpVersion: "2",
    requestMetadata: new Map(),
    deadline: undefined,
    signal,
    serviceGroup: undefined,
    serviceVersion: undefined,
    remoteAddress: "127.0.0.1",
    connection,
    responseMetadata: new Map(),
    trailerMetadata: new Map(),
  };
}

/** A stream call whose send() hands each message to the test and can be held back like a full window. */
function streamCall(signal: AbortSignal, connection?: object) {
  const sent: ServingStatus[] = [];
  let gate: Promise<void> = Promise.resolve();
  let open: () => void = () => {};
  const call: ServerStreamCall<HealthCheckResponse> = {
    ...callContext("Watch", signal, connection),
    async send(message) {
      if (signal.aborted) throw new RpcError(Code.Canceled, "call ended");
      sent.push(message.status);
      await gate;
    },
  };
  return {
    call,
    sent,
    block() {
      gate = new Promise((resolve) => {
        open = resolve;
      });
    },
    unblock() {
      open();
      gate = Promise.resolve();
    },
  };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

t.test("method table: kinds and codecs", async (t) => {
  const methods = createHealthService(new HealthRegistry());
  t.same(Object.keys(methods).sort(), ["Check", "List", "Watch"]);
  t.equal(methods.Check?.kind, "unary");
  t.equal(methods.List?.kind, "unary");
  t.equal(methods.Watch?.kind, "server_streaming");
  t.equal(methods.Check?.input, healthCodecs.checkRequest);
  t.equal(methods.Check?.output, healthCodecs.checkResponse);
  t.equal(methods.Watch?.input, healthCodecs.checkRequest);
  t.equal(methods.List?.input, healthCodecs.listRequest);
  t.equal(methods.List?.output, healthCodecs.listResponse);
});

t.test("Check answers the status, NOT_FOUND for an unknown service", async (t) => {
  const registry = new HealthRegistry();
  registry.set("a", NotServing);
  const check = createHealthService(registry).Check as UnaryMethod;
  t.same(await check.handler({ service: "" }, callContext("Check")), { status: Serving });
  t.same(await check.handler({ service: "a" }, callContext("Check")), { status: NotServing });
  const huge = "ü".repeat(10_000);
  try {
    await check.handler({ service: huge }, callContext("Check"));
    t.fail("should throw");
  } catch (error) {
    t.ok(error instanceof RpcError);
    t.equal((error as RpcError).code, Code.NotFound);
    t.equal((error as RpcError).rawMessage, "unknown service", "the name is not echoed");
  }
  registry.drain();
  t.same(await check.handler({ service: "a" }, callContext("Check")), { status: NotServing });
  t.same(await check.handler({ service: "" }, callContext("Check")), { status: NotServing });
});

t.test("Watch sends the current status, each change, and ends when the call does", async (t) => {
  const registry = new HealthRegistry();
  const watch = createHealthService(registry).Watch as ServerStreamingMethod;
  const controller = new AbortController();
  const stream = streamCall(controller.signal);
  const done = watch.handler({ service: "a" }, stream.call);
  await tick();
  t.same(stream.sent, [ServiceUnknown]);
  t.equal(registry.watcherCount, 1);
  registry.set("a", Serving);
  await tick();
  registry.set("a", NotServing);
  await tick();
  registry.clear("a");
  await tick();
  t.same(stream.sent, [ServiceUnknown, Serving, NotServing, ServiceUnknown]);
  controller.abort();
  await done;
  t.equal(registry.watcherCount, 0, "watcher freed at the end of the call");
});

t.test("Watch on a full window coalesces to the latest status", async (t) => {
  const registry = new HealthRegistry();
  registry.set("a", Serving);
  const watch = createHealthService(registry).Watch as ServerStreamingMethod;
  const controller = new AbortController();
  const stream = streamCall(controller.signal);
  stream.block();
  const done = watch.handler({ service: "a" }, stream.call);
  await tick();
  for (let i = 0; i < 10_000; i++) registry.set("a", i % 2 === 0 ? NotServing : Serving);
  registry.set("a", NotServing);
  await tick();
  t.same(stream.sent, [Serving], "the reader is stuck behind the first message");
  stream.unblock();
  await tick();
  t.same(stream.sent, [Serving, NotServing], "then gets only the latest");
  controller.abort();
  await done;
  t.equal(registry.watcherCount, 0);
});

t.test("Watch frees its watcher when send() rejects", async (t) => {
  const registry = new HealthRegistry();
  const watch = createHealthService(registry).Watch as ServerStreamingMethod;
  const call: ServerStreamCall<HealthCheckResponse> = {
    ...callContext("Watch"),
    send: async () => {
      throw new RpcError(Code.Canceled, "reset by peer");
    },
  };
  await t.rejects(async () => watch.handler({ service: "" }, call), { code: Code.Canceled });
  t.equal(registry.watcherCount, 0);
});

t.test("Watch refuses past maxWatchers with RESOURCE_EXHAUSTED", async (t) => {
  const registry = new HealthRegistry({ maxWatchers: 1 });
  const watch = createHealthService(registry).Watch as ServerStreamingMethod;
  const controller = new AbortController();
  const first = watch.handler({ service: "" }, streamCall(controller.signal).call);
  await t.rejects(async () => watch.handler({ service: "" }, streamCall(controller.signal).call), {
    code: Code.ResourceExhausted,
  });
  controller.abort();
  await first;
  t.equal(registry.watcherCount, 0);
});

t.test("Watch on an already ended call returns at once", async (t) => {
  const registry = new HealthRegistry();
  const watch = createHealthService(registry).Watch as ServerStreamingMethod;
  const stream = streamCall(AbortSignal.abort());
  await watch.handler({ service: "" }, stream.call);
  t.same(stream.sent, []);
  t.equal(registry.watcherCount, 0);
});

t.test("List answers every status, within its limit, unless disabled", async (t) => {
  const registry = new HealthRegistry();
  registry.set("a", NotServing);
  registry.set("b", Serving);
  const list = createHealthService(registry).List as UnaryMethod;
  const response = await list.handler({}, callContext("List"));
  t.same(response, {
    statuses: { "": { status: Serving }, a: { status: NotServing }, b: { status: Serving } },
  });
  // The response encodes with the real codec, map and all.
  const bytes = healthCodecs.listResponse.encodeBinary(response);
  t.same(healthCodecs.listResponse.decodeJson(healthCodecs.listResponse.encodeJson(response)), response);
  t.ok(bytes.length > 0);

  const limited = createHealthService(registry, { listLimit: 2 }).List as UnaryMethod;
  await t.rejects(async () => limited.handler({}, callContext("List")), {
    code: Code.ResourceExhausted,
    rawMessage: "server health list exceeds maximum capacity: 2",
  });
  const exact = createHealthService(registry, { listLimit: 3 }).List as UnaryMethod;
  t.ok(await exact.handler({}, callContext("List")));

  const disabled = createHealthService(registry, { listEnabled: false }).List as UnaryMethod;
  await t.rejects(async () => disabled.handler({}, callContext("List")), { code: Code.Unimplemented });
});

t.test("the default List limit is 100 services", async (t) => {
  const registry = new HealthRegistry();
  for (let i = 0; i < 99; i++) registry.set(`s${i}`, Serving);
  const list = createHealthService(registry).List as UnaryMethod;
  const response = (await list.handler({}, callContext("List"))) as { statuses: object };
  t.equal(Object.keys(response.statuses).length, 100);
  registry.set("one-too-many", Serving);
  await t.rejects(async () => list.handler({}, callContext("List")), { code: Code.ResourceExhausted });
});

t.test("after shutdown, Watch tells NOT_SERVING and stays open until the call ends", async (t) => {
  // Ending it here would make grpc-go's health client re-open it at once (issue 14 item 4): the host
  // ends it after GOAWAY instead.
  const registry = new HealthRegistry();
  registry.set("a", Serving);
  const watch = createHealthService(registry).Watch as ServerStreamingMethod;
  const calls = [new AbortController(), new AbortController(), new AbortController()];
  const stream = streamCall(calls[0]!.signal);
  const done = Promise.resolve(watch.handler({ service: "a" }, stream.call));
  await tick();
  registry.shutdown("closing");
  await tick();
  t.same(stream.sent, [Serving, NotServing]);
  const late = streamCall(calls[1]!.signal);
  const lateDone = Promise.resolve(watch.handler({ service: "a" }, late.call));
  const unknown = streamCall(calls[2]!.signal);
  const unknownDone = Promise.resolve(watch.handler({ service: "nope" }, unknown.call));
  await tick();
  t.same(late.sent, [NotServing], "a watch opened after shutdown gets NOT_SERVING");
  t.same(unknown.sent, [ServiceUnknown], "an unknown service SERVICE_UNKNOWN");
  t.equal(registry.watcherCount, 3, "all three still open");
  for (const call of calls) call.abort();
  await Promise.all([done, lateDone, unknownDone]);
  t.equal(registry.watcherCount, 0, "each ends with its call");
});

t.test("Watch streams per connection are limited, and freed when they end", async (t) => {
  const registry = new HealthRegistry();
  registry.set("a", Serving);
  const watch = createHealthService(registry, { maxWatchersPerConnection: 2 })[
    "Watch"
  ] as ServerStreamingMethod;
  const connection = {};
  const controllers = [new AbortController(), new AbortController()];
  const running = controllers.map((c) =>
    watch.handler({ service: "a" }, streamCall(c.signal, connection).call),
  );
  await t.rejects(
    Promise.resolve(
      watch.handler({ service: "a" }, streamCall(new AbortController().signal, connection).call),
    ),
    { code: Code.ResourceExhausted, message: /too many Watch streams on one connection \(limit 2\)/ },
  );
  const other = new AbortController();
  const elsewhere = watch.handler({ service: "a" }, streamCall(other.signal, {}).call);
  t.equal(registry.watcherCount, 3, "another connection is not affected");
  controllers[0]!.abort();
  await Promise.allSettled([running[0]]);
  const again = new AbortController();
  const reopened = watch.handler({ service: "a" }, streamCall(again.signal, connection).call);
  t.equal(registry.watcherCount, 3, "an ended stream frees its slot");
  for (const c of [controllers[1]!, other, again]) c.abort();
  await Promise.allSettled([running[1], elsewhere, reopened]);
  t.equal(registry.watcherCount, 0);
});
