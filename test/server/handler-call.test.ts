// What a handler holds of its call: the CallContext (and send for server streams), nothing of the engine.
import t from "tap";
import { grpcHeaders, h2request } from "../fixtures/h2-request.ts";
import { envelope, envelopes, startProbeServer } from "./fixtures/helpers.ts";

const { url, calls } = await startProbeServer(t);

// Everything a handler may read or call (hold is the internal HoldableStreamCall the Watch runs on); the
// engine's members (exchange, writer, owner, route, limits, start, fail, expire, onData, onEnd, onClose,
// onDrain, done) must not be among them.
const surface = [
  "connection",
  "deadline",
  "hold",
  "httpVersion",
  "method",
  "protocol",
  "remoteAddress",
  "requestMetadata",
  "responseMetadata",
  "send",
  "serviceGroup",
  "serviceVersion",
  "service",
  "signal",
  "trailerMetadata",
].sort();
const engineMembers = ["exchange", "writer", "owner", "route", "limits", "type", "codec"];
const engineMethods = ["start", "fail", "expire", "onData", "onEnd", "onClose", "onDrain"];

function members(call: object): string[] {
  const names = new Set<string>(Object.keys(call));
  for (
    let proto = Object.getPrototypeOf(call);
    proto !== Object.prototype;
    proto = Object.getPrototypeOf(proto)
  ) {
    for (const name of Object.getOwnPropertyNames(proto)) if (name !== "constructor") names.add(name);
  }
  return [...names].sort();
}

t.test("a unary handler's call: the context members only, read-only", async (t) => {
  const res = await h2request(
    url,
    grpcHeaders("/test.Probe/Greet", { "grpc-timeout": "5S" }),
    envelope(Buffer.from([0x0a, 2, ...Buffer.from("hi")])),
  );
  t.equal(res.status, 200);
  t.equal(res.trailers?.["grpc-status"], "0");
  t.equal(envelopes(res.body).length, 1);
  const call = calls.last!;
  t.same(members(call), surface);
  t.same(Object.keys(call), [], "no own enumerable fields");
  for (const name of [...engineMembers, ...engineMethods]) t.notOk(name in call, `no ${name}`);
  t.same(Object.getOwnPropertySymbols(call), [], "no symbol-keyed fields");
  const deadline = call.deadline;
  t.throws(() => {
    (call as { deadline: number | undefined }).deadline = 0;
  }, TypeError);
  t.equal(call.deadline, deadline, "the deadline cannot be moved");
  t.equal(call.service, "test.Probe");
  t.equal(call.method, "Greet");
});

t.test("a server-streaming handler's call: the same surface", async (t) => {
  const res = await h2request(
    url,
    grpcHeaders("/test.Probe/Count"),
    envelope(Buffer.from([0x0a, 1, ...Buffer.from("2")])),
  );
  t.equal(envelopes(res.body).length, 2);
  const call = calls.last!;
  t.equal(call.method, "Count");
  t.same(members(call), surface);
  for (const name of [...engineMembers, ...engineMethods]) t.notOk(name in call, `no ${name}`);
});
