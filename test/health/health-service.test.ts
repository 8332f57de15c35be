import t from "tap";
import { healthCodecs } from "../../src/codec/health-codecs.ts";
import { type HealthCheckResponse, ServingStatus } from "../../src/codec/health-types.ts";
import { createHealthService } from "../../src/health/health-service.ts";
import { HealthRegistry } from "../../src/health/registry.ts";
import type {
  CallContext,
  HoldableStreamCall,
  ServerStreamCall,
  ServerStreamingMethod,
  StreamHolder,
  UnaryMethod,
} from "../../src/server/service-types.ts";
import { Code } from "../../src/wire/code.ts";
import { RpcError } from "../../src/wire/rpc-error.ts";

const { Unknown, Serving, NotServing, ServiceUnknown } = ServingStatus;

function callContext(
  method: string,
  connection: object | undefined = undefined,
  remoteAddress = "127.0.0.1",
): CallContext {
  return {
    service: "grpc.health.v1.Health",
    method,
    protocol: "grpc",
    httpVersion: "2",
    requestMetadata: new Map(),
    deadline: undefined,
    signal: new AbortController().signal,
    serviceGroup: undefined,
    serviceVersion: undefined,
    remoteAddress,
    connection,
    responseMetadata: new Map(),
    trailerMetadata: new Map(),
  };
}

/**
 * A held stream call as the engine gives the Watch: the writer hold() returns hands each message to the
 * test and can push back like a full window; end() is the call ending (client gone, deadline, server closing).
 */
function heldCall(connection?: object, remoteAddress?: string) {
  const sent: ServingStatus[] = [];
  let holder: StreamHolder | undefined;
  let full = false;
  let ended = false;
  const call: HoldableStreamCall<HealthCheckResponse> = {
    ...callContext("Watch", connection, remoteAddress),
    send: () => Promise.reject(new Error("the Watch writes, it does not send")),
    hold(h) {
      holder = h;
      return {
        write(message) {
          if (ended) return false;
          sent.push(message.status);
          return !full;
        },
      };
    },
  };
  return {
    call,
    sent,
    get held() {
      return holder !== undefined && !ended;
    },
    block() {
      full = true;
    },
    unblock() {
      full = false;
      holder?.onWritable();
    },
    end() {
      if (ended) return;
      ended = true;
      holder?.onCallEnd();
    },
  };
}

/** Runs the Watch handler as the engine does: a throw ends the call (which the holder hears). */
function runWatch(
  watch: ServerStreamingMethod,
  service: string,
  stream: ReturnType<typeof heldCall>,
): unknown {
  try {
    const result = watch.handler({ service }, stream.call);
    return result;
  } catch (error) {
    stream.end();
    return error;
  }
}

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

// Two turns of the event loop: the hub's next turn (it may have begun in the current one) has begun.
const nextTurn = async () => {
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
};

t.test("Watch sends the current status, each change, and ends when the call does", async (t) => {
  const registry = new HealthRegistry();
  const watch = createHealthService(registry).Watch as ServerStreamingMethod;
  const stream = heldCall({});
  t.equal(runWatch(watch, "a", stream), undefined, "the handler returns at once");
  t.ok(stream.held, "the stream is held open past the handler's return");
  t.same(stream.sent, [ServiceUnknown]);
  t.equal(registry.watcherCount, 1);
  await nextTurn();
  registry.set("a", Serving);
  t.same(stream.sent, [ServiceUnknown, Serving], "a change is written at once, from inside set()");
  await nextTurn();
  registry.set("a", NotServing);
  await nextTurn();
  registry.clear("a");
  t.same(stream.sent, [ServiceUnknown, Serving, NotServing, ServiceUnknown], "each change");
  stream.end();
  t.equal(registry.watcherCount, 0, "watcher freed at the end of the call");
  await nextTurn();
  registry.set("a", Serving);
  await nextTurn();
  t.equal(stream.sent.length, 4, "nothing after the end");
});

t.test("Watch: a burst of changes in one turn is the first and, a turn later, the last", async (t) => {
  const registry = new HealthRegistry();
  registry.set("a", Serving);
  const watch = createHealthService(registry).Watch as ServerStreamingMethod;
  const streams = [heldCall(), heldCall()];
  for (const stream of streams) runWatch(watch, "a", stream);
  await nextTurn();
  for (let i = 0; i < 1_000; i++) registry.set("a", i % 2 === 0 ? NotServing : Serving);
  registry.set("a", Unknown);
  for (const stream of streams) t.same(stream.sent, [Serving, NotServing], "the first change at once");
  await nextTurn();
  for (const stream of streams)
    t.same(stream.sent, [Serving, NotServing, Unknown], "the latest in the next turn");
  await nextTurn();
  registry.set("a", Serving);
  registry.set("a", Unknown);
  await nextTurn();
  for (const stream of streams)
    t.same(
      stream.sent,
      [Serving, NotServing, Unknown, Serving, Unknown],
      "then again the first and the last",
    );
  await nextTurn();
  registry.set("a", Serving);
  registry.set("a", NotServing);
  registry.set("a", Serving);
  await nextTurn();
  t.same(streams[0]!.sent.slice(5), [Serving], "a burst that ends where its first change was: that one only");
  await nextTurn();
  registry.set("a", NotServing);
  registry.set("a", Serving);
  streams[0]!.end();
  await nextTurn();
  t.same(streams[0]!.sent.slice(6), [NotServing], "an ended stream writes nothing it held for the next turn");
  t.same(streams[1]!.sent.slice(6), [NotServing, Serving]);
  streams[1]!.end();
  t.equal(registry.watcherCount, 0);
});

t.test("Watch on a full window coalesces to the latest status", async (t) => {
  const registry = new HealthRegistry();
  registry.set("a", Serving);
  const watch = createHealthService(registry).Watch as ServerStreamingMethod;
  const stream = heldCall();
  stream.block();
  runWatch(watch, "a", stream);
  for (let i = 0; i < 10_000; i++) registry.set("a", i % 2 === 0 ? NotServing : Serving);
  registry.set("a", NotServing);
  t.same(stream.sent, [Serving], "the reader is stuck behind the first message");
  stream.unblock();
  t.same(stream.sent, [Serving, NotServing], "then gets only the latest");
  stream.block();
  registry.set("a", Serving);
  await nextTurn();
  t.same(
    stream.sent,
    [Serving, NotServing, Serving],
    "written a turn later: NOT_SERVING went out in this one",
  );
  registry.set("a", NotServing);
  registry.set("a", Serving);
  stream.unblock();
  t.same(stream.sent, [Serving, NotServing, Serving], "flips that end where the client is write nothing");
  stream.end();
  t.equal(registry.watcherCount, 0);
});

t.test("Watch ended while the window is full frees its watcher and writes nothing more", async (t) => {
  const registry = new HealthRegistry();
  const watch = createHealthService(registry).Watch as ServerStreamingMethod;
  const stream = heldCall();
  stream.block();
  runWatch(watch, "", stream);
  registry.set("", NotServing);
  stream.end();
  t.equal(registry.watcherCount, 0);
  stream.unblock();
  t.same(stream.sent, [Serving]);
});

t.test(
  "Watch refuses past maxWatchers with RESOURCE_EXHAUSTED, and the refused call frees its slots",
  async (t) => {
    const registry = new HealthRegistry({ maxWatchers: 1 });
    const watch = createHealthService(registry, { maxWatchersPerAddress: 5 }).Watch as ServerStreamingMethod;
    const connection = {};
    const first = heldCall(connection);
    runWatch(watch, "", first);
    const refused = heldCall(connection);
    const error = runWatch(watch, "", refused);
    t.match(error, { code: Code.ResourceExhausted, rawMessage: /too many health watchers \(limit 1\)/ });
    t.same(refused.sent, []);
    first.end();
    t.equal(registry.watcherCount, 0);
    // Its connection and address slots came back: five more fit after the refusal.
    const more = Array.from({ length: 5 }, () => heldCall({}));
    const roomy = createHealthService(new HealthRegistry({ maxWatchers: 10 }), { maxWatchersPerAddress: 1 });
    t.equal(runWatch(roomy.Watch as ServerStreamingMethod, "", more[0]!), undefined);
    t.match(runWatch(roomy.Watch as ServerStreamingMethod, "", more[1]!), { code: Code.ResourceExhausted });
    more[0]!.end();
    t.equal(runWatch(roomy.Watch as ServerStreamingMethod, "", more[2]!), undefined, "freed with its call");
  },
);

t.test("Watch needs a call that can be held open", async (t) => {
  const watch = createHealthService(new HealthRegistry()).Watch as ServerStreamingMethod;
  const plain: ServerStreamCall<HealthCheckResponse> = { ...callContext("Watch"), send: async () => {} };
  t.throws(() => watch.handler({ service: "" }, plain), { code: Code.Internal });
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
  const stream = heldCall();
  runWatch(watch, "a", stream);
  await nextTurn();
  registry.shutdown("closing");
  t.same(stream.sent, [Serving, NotServing]);
  const late = heldCall();
  runWatch(watch, "a", late);
  const unknown = heldCall();
  runWatch(watch, "nope", unknown);
  t.same(late.sent, [NotServing], "a watch opened after shutdown gets NOT_SERVING");
  t.same(unknown.sent, [ServiceUnknown], "an unknown service SERVICE_UNKNOWN");
  t.equal(registry.watcherCount, 3, "all three still open");
  t.ok(stream.held && late.held && unknown.held);
  for (const call of [stream, late, unknown]) call.end();
  t.equal(registry.watcherCount, 0, "each ends with its call");
});

t.test("Watch streams per connection are limited, and freed when they end", async (t) => {
  const registry = new HealthRegistry();
  registry.set("a", Serving);
  const watch = createHealthService(registry, { maxWatchersPerConnection: 2 }).Watch as ServerStreamingMethod;
  const connection = {};
  const running = [heldCall(connection), heldCall(connection)];
  for (const stream of running) runWatch(watch, "a", stream);
  t.match(runWatch(watch, "a", heldCall(connection)), {
    code: Code.ResourceExhausted,
    message: /too many Watch streams on one connection \(limit 2\)/,
  });
  const elsewhere = heldCall({});
  runWatch(watch, "a", elsewhere);
  t.equal(registry.watcherCount, 3, "another connection is not affected");
  running[0]!.end();
  const reopened = heldCall(connection);
  t.equal(runWatch(watch, "a", reopened), undefined);
  t.equal(registry.watcherCount, 3, "an ended stream frees its slot");
  for (const stream of [running[1]!, elsewhere, reopened]) stream.end();
  t.equal(registry.watcherCount, 0);
});

t.test("Watch streams per client address: a share of maxWatchers, IPv6 by its /64", async (t) => {
  const perAddress = "too many Watch streams from one client address";
  const registry = new HealthRegistry({ maxWatchers: 8 });
  const watch = createHealthService(registry).Watch as ServerStreamingMethod;
  const open = (address: string, method = watch) => {
    const stream = heldCall({}, address);
    return { stream, result: runWatch(method, "", stream) };
  };
  // The default share is half of maxWatchers: 4 of 8.
  const first = [1, 2, 3, 4].map(() => open("10.0.0.1"));
  t.ok(first.every((w) => w.result === undefined));
  t.match(open("10.0.0.1").result, { code: Code.ResourceExhausted, rawMessage: `${perAddress} (limit 4)` });
  t.match(
    open("::ffff:10.0.0.1").result,
    { rawMessage: `${perAddress} (limit 4)` },
    "IPv4-mapped is the same client",
  );
  t.equal(registry.watcherCount, 4, "one client holds half the slots, no more");
  t.equal(open("10.0.0.2").result, undefined, "another client still gets a slot");
  first[0]!.stream.end();
  t.equal(open("10.0.0.1").result, undefined, "an ended stream gives its address its slot back");

  const three = createHealthService(new HealthRegistry({ maxWatchers: 100 }), { maxWatchersPerAddress: 3 })
    .Watch as ServerStreamingMethod;
  const v6 = ["2001:db8:1:2::1", "2001:db8:1:2:aaaa::9", "2001:0db8:0001:0002:ffff::1"].map((a) =>
    open(a, three),
  );
  t.ok(v6.every((w) => w.result === undefined));
  t.match(
    open("2001:db8:1:2:ffff:ffff:ffff:ffff", three).result,
    { rawMessage: `${perAddress} (limit 3)` },
    "one /64 is one client",
  );
  t.equal(open("2001:db8:1:3::1", three).result, undefined, "the next /64 is another");

  const off = createHealthService(new HealthRegistry({ maxWatchers: 4 }), { maxWatchersPerAddress: Infinity })
    .Watch as ServerStreamingMethod;
  const all = [1, 2, 3, 4].map(() => open("10.0.0.1", off).result);
  t.ok(
    all.every((result) => result === undefined),
    "Infinity turns the share off: maxWatchers alone limits",
  );
});
