// Handlers typed from the service's type: `npx tsc --noEmit` (strict) checks the unannotated handlers
// below and every `@ts-expect-error` (an expected error that is not there fails the type-check); tap
// runs the same handlers on a server.
import protobuf from "protobufjs";
import t from "tap";
import { loadProtoFiles } from "../../src/codec/proto-files.ts";
import { defineService } from "../../src/server/define-service.ts";
import type {
  CallContext,
  ServerStreamCall,
  ServerStreamingMethod,
  ServiceHandlers,
  UnaryMethod,
} from "../../src/server/service-types.ts";
import { grpcHeaders, h2request } from "../fixtures/h2-request.ts";
import { startServer } from "../fixtures/start-server.ts";
import { envelope, envelopes } from "./fixtures/helpers.ts";

interface GreetRequest {
  name: string;
}
interface GreetResponse {
  greeting: string;
}
/** greet.GreetService (proto/greet.proto) as a type. */
interface GreetService {
  Greet: UnaryMethod<GreetRequest, GreetResponse>;
}

interface Count {
  n: number;
}
/** A server-streaming service, parsed below. */
interface Counter {
  Up: ServerStreamingMethod<Count, Count>;
  Total: UnaryMethod<Count, Count>;
}
const counterRoot = protobuf.parse(
  'syntax = "proto3"; package c; message Count { int32 n = 1; } service Counter { rpc Up(Count) returns (stream Count); rpc Total(Count) returns (Count); }',
).root;

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<_T extends true>(): void {}

const root = loadProtoFiles("greet.proto");

// The README's snippet: no annotation anywhere, and under `strict` each parameter has its type.
const greet = defineService<GreetService>(root, "greet.GreetService", {
  Greet: async (request, call) => {
    assertType<Equal<typeof request, GreetRequest>>();
    assertType<Equal<typeof call, CallContext>>();
    return { greeting: `hello ${request.name} (${call.method} over ${call.protocol})` };
  },
});

const counter = defineService<Counter>(counterRoot, "c.Counter", {
  Up: async (request, call) => {
    assertType<Equal<typeof call, ServerStreamCall<Count>>>();
    for (let n = 1; n <= request.n; n++) await call.send({ n });
  },
  Total: (request) => ({ n: (request.n * (request.n + 1)) / 2 }),
});

// Mistakes the compiler catches. These handlers are never run.
const mistakes: ServiceHandlers<Counter>[] = [
  {
    // @ts-expect-error: a Count has no `nme`
    Total: (request) => ({ n: request.nme }),
  },
  {
    // @ts-expect-error: the response is a Count, not a GreetResponse
    Total: () => ({ greeting: "x" }),
  },
  {
    Total: (_request, call) => {
      // @ts-expect-error: a unary call has no send()
      void call.send({ n: 1 });
      return { n: 0 };
    },
  },
  {
    Up: async (_request, call) => {
      // @ts-expect-error: Up streams Counts
      await call.send({ greeting: "x" });
    },
  },
  {
    // @ts-expect-error: a unary handler for a server-streaming method
    Up: () => ({ n: 1 }),
  },
  {
    // @ts-expect-error: Counter has no method Down
    Down: () => ({ n: 1 }),
  },
];

// Without a service type, handlers still type-check unannotated (requests are `any`) — the README's
// earlier form, which failed with TS7006 when the handler table was a union of function types.
const untyped = defineService(root, "greet.GreetService", {
  Greet: async (request: { name: string }, call) => ({ greeting: `${request.name}|${call.service}` }),
});

t.test("typed handlers run: unary and server-streaming", async (t) => {
  const { server, url } = await startServer(t);
  server.addService("greet.GreetService", greet);
  server.addService("c.Counter", counter);
  const greeting = await h2request(
    url,
    grpcHeaders("/greet.GreetService/Greet"),
    envelope(Buffer.from([0x0a, 3, ...Buffer.from("ann")])),
  );
  t.equal(greeting.trailers?.["grpc-status"], "0");
  t.equal(envelopes(greeting.body)[0]?.payload.subarray(2).toString(), "hello ann (Greet over grpc)");
  const up = await h2request(url, grpcHeaders("/c.Counter/Up"), envelope(Buffer.from([0x08, 3])));
  t.equal(up.trailers?.["grpc-status"], "0");
  t.same(
    envelopes(up.body).map((message) => [...message.payload]),
    [
      [0x08, 1],
      [0x08, 2],
      [0x08, 3],
    ],
  );
  const total = await h2request(url, grpcHeaders("/c.Counter/Total"), envelope(Buffer.from([0x08, 4])));
  t.same([...envelopes(total.body)[0]!.payload], [0x08, 10]);
});

t.test("the untyped form still defines the same methods", async (t) => {
  t.equal(untyped.Greet?.kind, "unary");
  t.equal(untyped.Greet?.input.typeName, "greet.GreetRequest");
  t.equal(untyped.Greet?.output.typeName, "greet.GreetResponse");
  t.equal(counter.Up?.kind, "server_streaming");
  t.equal(counter.Total?.kind, "unary");
  t.equal(mistakes.length, 6);
});

t.test("a method given undefined is not served", async (t) => {
  const methods = defineService<Counter>(counterRoot, "c.Counter", { Up: undefined, Total: (r) => r });
  t.same(Object.keys(methods), ["Total"]);
});

t.test("a handler for no rpc is still refused at run time", async (t) => {
  t.throws(
    () =>
      defineService<Counter>(counterRoot, "c.Counter", {
        // @ts-expect-error: Counter has no method Down
        Down: () => ({ n: 1 }),
      }),
    /c.Counter has no method Down/,
  );
});
