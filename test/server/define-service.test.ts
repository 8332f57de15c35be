import t from "tap";
import { loadProtoFiles } from "../../src/codec/proto-files.ts";
import { defineService } from "../../src/server/define-service.ts";

const root = loadProtoFiles("greet.proto", "health.proto");

t.test("builds unary and server-streaming definitions from a Root", async (t) => {
  const greet = defineService(root, "greet.GreetService", { Greet: () => ({ greeting: "x" }) });
  t.equal(greet.Greet?.kind, "unary");
  t.equal(greet.Greet?.input.typeName, "greet.GreetRequest");
  t.equal(greet.Greet?.output.typeName, "greet.GreetResponse");
  const health = defineService(root, "grpc.health.v1.Health", {
    Check: () => ({ status: 1 }),
    Watch: async () => {},
  });
  t.equal(health.Watch?.kind, "server_streaming");
  t.equal(health.Check?.input, health.Watch?.input, "codecs are shared per message type");
  t.equal(health.List, undefined, "methods without a handler are not served");
  t.same([...health.Check!.output.encodeBinary({ status: 1 })], [8, 1]);
});

t.test("refuses unknown services and methods", async (t) => {
  t.throws(() => defineService(root, "no.Such", {}), /not a service/);
  t.throws(() => defineService(root, "greet.GreetRequest", {}), /not a service/);
  t.throws(() => defineService(root, "greet.GreetService", { Nope: () => ({}) }), /has no method Nope/);
});

t.test("refuses client and bidi streaming", async (t) => {
  const { default: protobuf } = await import("protobufjs");
  const parsed = protobuf.parse(
    'syntax = "proto3"; package s; message M { string a = 1; } service S { rpc C(stream M) returns (M); rpc B(stream M) returns (stream M); }',
  ).root;
  t.throws(() => defineService(parsed, "s.S", { C: () => ({}) }), /client and bidi streaming/);
  t.throws(() => defineService(parsed, "s.S", { B: () => ({}) }), /client and bidi streaming/);
});
