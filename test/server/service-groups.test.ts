// Dubbo meshes on the wire: exports picked by tri-service-group/-version, health under each service key
// (what dubbo-go consumers Watch), the `closing: true` attachment while draining or closing, and the
// lower-case-first method names Java callers send. Peers: grpc-js, connect-node, curl.
import { execFile } from "node:child_process";
import http from "node:http";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createPromiseClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import t, { type Test } from "tap";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { loadProtoFiles } from "../../src/codec/proto-files.ts";
import { serviceKey } from "../../src/health/service-key.ts";
import { defineService } from "../../src/server/define-service.ts";
import type { CallContext } from "../../src/server/service-types.ts";
import { EsHealthService } from "../fixtures/interop-health-es.ts";
import { type StartedServer, startServer } from "../fixtures/start-server.ts";
import { needs } from "../fixtures/tools.ts";

const run = promisify(execFile);
const protoDir = fileURLToPath(new URL("../../proto/", import.meta.url));
const loaded = grpc.loadPackageDefinition(
  protoLoader.loadSync([`${protoDir}greet.proto`, `${protoDir}health.proto`], {
    keepCase: true,
    enums: String,
    defaults: true,
  }),
) as unknown as {
  greet: { GreetService: grpc.ServiceClientConstructor };
  grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
};

type Callback<R> = (error: grpc.ServiceError | null, response?: R) => void;
type GreetStub = grpc.Client & {
  greet(
    request: { name: string },
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: Callback<{ greeting: string }>,
  ): grpc.ClientUnaryCall;
};
type HealthStub = grpc.Client & {
  check(
    request: { service: string },
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: Callback<{ status: string }>,
  ): grpc.ClientUnaryCall;
  watch(request: { service: string }): grpc.ClientReadableStream<{ status: string }>;
};

const root = loadProtoFiles("greet.proto");
/** greet.GreetService whose answer names the export that took the call. */
function greetExport(tag: string, hold?: Promise<void>) {
  return defineService(root, "greet.GreetService", {
    Greet: async (request: { name: string }, call: CallContext) => {
      await hold;
      return {
        greeting: `${tag}: ${request.name} (${call.method}, ${call.serviceGroup}/${call.serviceVersion})`,
      };
    },
  });
}

interface Answer<R> {
  error: grpc.ServiceError | null;
  response: R | undefined;
  /** The status event's metadata: the trailers (or a Trailers-Only head). */
  trailers: grpc.Metadata;
}

function unaryCall<R>(start: (callback: Callback<R>) => grpc.ClientUnaryCall): Promise<Answer<R>> {
  return new Promise((resolve) => {
    let result: Pick<Answer<R>, "error" | "response"> | undefined;
    let trailers: grpc.Metadata | undefined;
    const settle = () => {
      if (result !== undefined && trailers !== undefined) resolve({ ...result, trailers });
    };
    const call = start((error, response) => {
      result = { error, response };
      settle();
    });
    call.on("status", (status: grpc.StatusObject) => {
      trailers = status.metadata;
      settle();
    });
  });
}

function clients(t: Test, addr: string): { greet: GreetStub; health: HealthStub } {
  const greet = new loaded.greet.GreetService(
    addr,
    grpc.credentials.createInsecure(),
  ) as unknown as GreetStub;
  const health = new loaded.grpc.health.v1.Health(
    addr,
    grpc.credentials.createInsecure(),
  ) as unknown as HealthStub;
  t.teardown(() => {
    greet.close();
    health.close();
  });
  return { greet, health };
}

function groupMetadata(group?: string, version?: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  if (group !== undefined) metadata.set("tri-service-group", group);
  if (version !== undefined) metadata.set("tri-service-version", version);
  return metadata;
}

const greetOver = (client: GreetStub, group?: string, version?: string) =>
  unaryCall<{ greeting: string }>((callback) =>
    client.greet({ name: "x" }, groupMetadata(group, version), { deadline: Date.now() + 10_000 }, callback),
  );
const checkOver = (client: HealthStub, service: string) =>
  unaryCall<{ status: string }>((callback) =>
    client.check({ service }, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, callback),
  );

/** A Watch: its statuses as they come, and how it ended. */
function watchOver(client: HealthStub, service: string) {
  const call = client.watch({ service });
  const seen: string[] = [];
  let wake: (() => void) | undefined;
  call.on("data", (message: { status: string }) => {
    seen.push(message.status);
    wake?.();
  });
  call.on("error", () => {});
  const ended = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
  return {
    seen,
    ended,
    cancel: () => call.cancel(),
    /** Resolves once the last status seen is `status`. */
    async reaches(status: string): Promise<void> {
      const deadline = Date.now() + 10_000;
      while (seen.at(-1) !== status) {
        if (Date.now() > deadline)
          throw new Error(`watch of ${service} never saw ${status}: ${seen.join(",")}`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 100);
        });
      }
    },
  };
}

/** A triple unary call through curl over HTTP/1.1 (-D - dumps the response head before the body). */
async function curlTriple(
  url: string,
  path: string,
  body: string,
  headers: string[] = [],
): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const args = ["-sS", "-X", "POST", `${url}${path}`, "-H", "content-type: application/json", "-D", "-"];
  for (const header of headers) args.push("-H", header);
  args.push("--data-binary", body);
  const { stdout } = await run("curl", args);
  const [head = "", ...rest] = stdout.split("\r\n\r\n");
  const lines = head.split("\r\n");
  const parsed: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    parsed[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(lines[0]!.split(" ")[1]), headers: parsed, body: rest.join("\r\n\r\n") };
}

async function meshServer(t: Test, hold?: Promise<void>): Promise<StartedServer> {
  const started = await startServer(t);
  started.server
    .addService("greet.GreetService", greetExport("plain", hold))
    .addService("greet.GreetService", greetExport("g1-v1", hold), { group: "g1", version: "1.0.0" })
    .addService("greet.GreetService", greetExport("g2-v0", hold), { group: "g2", version: "0.0.0" });
  return started;
}

t.test("calls pick the export by tri-service-group/-version: grpc-js", async (t) => {
  const { addr } = await meshServer(t);
  const { greet } = clients(t, addr);
  t.equal((await greetOver(greet)).response?.greeting, "plain: x (Greet, undefined/undefined)", "no headers");
  t.equal(
    (await greetOver(greet, "g1", "1.0.0")).response?.greeting,
    "g1-v1: x (Greet, g1/1.0.0)",
    "handlers still see the headers",
  );
  t.equal((await greetOver(greet, "g2", "0.0.0")).response?.greeting, "g2-v0: x (Greet, g2/0.0.0)");
  for (const [group, version] of [
    ["g1", undefined],
    ["g1", "2.0.0"],
    ["g3", "1.0.0"],
    [undefined, "1.0.0"],
  ]) {
    const { error } = await greetOver(greet, group, version);
    t.equal(error?.code, grpc.status.UNIMPLEMENTED, `${group}/${version}: UNIMPLEMENTED`);
    t.match(error?.details, /no implementation of greet\.GreetService for service group/);
  }
});

t.test("calls pick the export by tri-service-group/-version: triple over curl", needs("curl"), async (t) => {
  const { url } = await meshServer(t);
  const g1 = await curlTriple(url, "/greet.GreetService/Greet", '{"name":"c"}', [
    "tri-service-group: g1",
    "tri-service-version: 1.0.0",
  ]);
  t.equal(g1.status, 200);
  t.same(JSON.parse(g1.body), { greeting: "g1-v1: c (Greet, g1/1.0.0)" });
  const plain = await curlTriple(url, "/greet.GreetService/Greet", '{"name":"c"}');
  t.same(JSON.parse(plain.body), { greeting: "plain: c (Greet, undefined/undefined)" });
  const unknown = await curlTriple(url, "/greet.GreetService/Greet", '{"name":"c"}', [
    "tri-service-group: nope",
  ]);
  t.equal(unknown.status, 404, "UNIMPLEMENTED is HTTP 404 in triple");
  t.match(JSON.parse(unknown.body), { code: "unimplemented", message: /service group "nope"/ });
});

t.test("lower-case-first method names, as Java callers send them", needs("curl"), async (t) => {
  const { url, addr } = await meshServer(t);
  const check = await curlTriple(url, "/grpc.health.v1.Health/check", '{"service":""}');
  t.same(JSON.parse(check.body), { status: "SERVING" });
  const greet = await curlTriple(url, "/greet.GreetService/greet", '{"name":"j"}', [
    "tri-service-group: g1",
    "tri-service-version: 1.0.0",
  ]);
  t.same(
    JSON.parse(greet.body),
    { greeting: "g1-v1: j (Greet, g1/1.0.0)" },
    "the handler sees the real method name",
  );
  const wrong = await curlTriple(url, "/greet.GreetService/gREET", '{"name":"j"}');
  t.equal(wrong.status, 404, "only the first letter is folded");
  // The same over gRPC with a raw path (grpc-js's makeUnaryRequest takes any path).
  const { health } = clients(t, addr);
  const answer = await unaryCall<Buffer>((callback) =>
    health.makeUnaryRequest(
      "/grpc.health.v1.Health/check",
      (value: Buffer) => value,
      (value: Buffer) => value,
      Buffer.from([0x0a, 0x00]),
      new grpc.Metadata(),
      { deadline: Date.now() + 10_000 },
      callback,
    ),
  );
  t.equal(answer.error, null);
  t.equal(answer.response?.toString("hex"), "0801", "SERVING");
});

t.test("health under each service key: Check, Watch, drain and close", async (t) => {
  const { server, addr } = await meshServer(t);
  const { health } = clients(t, addr);
  const keys = ["greet.GreetService", "g1/greet.GreetService:1.0.0", "g2/greet.GreetService"];
  t.equal(serviceKey("greet.GreetService", "g2", "0.0.0"), "g2/greet.GreetService", "0.0.0 is dropped");
  for (const key of keys) t.same((await checkOver(health, key)).response, { status: "SERVING" }, key);
  const { error } = await checkOver(health, "greet.GreetService:0.0.0");
  t.equal(error?.code, grpc.status.NOT_FOUND, "no key keeps version 0.0.0");
  // Added while listening: its key is SERVING at once.
  server.addService("greet.GreetService", greetExport("late"), { group: "late" });
  t.same((await checkOver(health, "late/greet.GreetService")).response, { status: "SERVING" });

  const watches = [...keys, "late/greet.GreetService"].map((key) => watchOver(health, key));
  for (const watch of watches) await watch.reaches("SERVING");
  server.health.drain();
  for (const watch of watches) await watch.reaches("NOT_SERVING");
  t.same(
    (await checkOver(health, "g1/greet.GreetService:1.0.0")).response,
    { status: "NOT_SERVING" },
    "drain: every key NOT_SERVING",
  );
  server.health.resume();
  for (const watch of watches) await watch.reaches("SERVING");
  const closed = server.close({ graceMs: 2000 });
  for (const watch of watches) await watch.reaches("NOT_SERVING");
  for (const watch of watches)
    t.equal((await watch.ended).code, grpc.status.UNAVAILABLE, "then ended by close");
  await closed;
  t.same(
    watches.map((watch) => watch.seen),
    watches.map(() => ["SERVING", "NOT_SERVING", "SERVING", "NOT_SERVING"]),
  );
});

t.test("`closing: true` in the trailers while draining: grpc-js", async (t) => {
  const { server, addr } = await meshServer(t);
  const { greet, health } = clients(t, addr);
  t.same((await greetOver(greet)).trailers.get("closing"), [], "not while serving");
  server.health.drain();
  const during = await greetOver(greet, "g1", "1.0.0");
  t.equal(during.response?.greeting, "g1-v1: x (Greet, g1/1.0.0)", "calls are still answered");
  t.same(during.trailers.get("closing"), ["true"], "a unary answer");
  const failed = await checkOver(health, "no.such.Service");
  t.equal(failed.error?.code, grpc.status.NOT_FOUND);
  t.same(failed.trailers.get("closing"), ["true"], "an error (Trailers-Only) too");
  server.health.resume();
  t.same((await greetOver(greet)).trailers.get("closing"), [], "not after resume");
});

t.test("`closing: true` while closing: a call in flight when close() begins", async (t) => {
  let release!: () => void;
  const hold = new Promise<void>((resolve) => {
    release = resolve;
  });
  const { server, addr } = await meshServer(t, hold);
  const { greet } = clients(t, addr);
  const inFlight = greetOver(greet, "g1", "1.0.0");
  await new Promise((resolve) => setTimeout(resolve, 200));
  const closed = server.close({ graceMs: 5000 });
  release();
  const answer = await inFlight;
  t.equal(answer.response?.greeting, "g1-v1: x (Greet, g1/1.0.0)");
  t.same(answer.trailers.get("closing"), ["true"]);
  await closed;
});

t.test("`closing: true` while draining: triple unary (curl, connect-node)", needs("curl"), async (t) => {
  const { server, url } = await meshServer(t);
  const before = await curlTriple(url, "/grpc.health.v1.Health/Check", '{"service":""}');
  t.equal(before.headers["trailer-closing"], undefined);
  server.health.drain();
  const during = await curlTriple(url, "/grpc.health.v1.Health/Check", '{"service":""}');
  t.same(JSON.parse(during.body), { status: "NOT_SERVING" });
  t.equal(during.headers["trailer-closing"], "true", "triple unary trailers travel as Trailer- headers");
  const error = await curlTriple(url, "/grpc.health.v1.Health/Check", '{"service":"nope"}');
  t.equal(error.status, 404);
  t.equal(error.headers["trailer-closing"], "true", "an error answer too");

  const agent = new http.Agent({ keepAlive: false });
  t.teardown(() => agent.destroy());
  const client = createPromiseClient(
    EsHealthService,
    createConnectTransport({ baseUrl: url, httpVersion: "1.1", nodeOptions: { agent } }),
  );
  let trailers: Headers | undefined;
  await client.check({ service: "" }, { onTrailer: (value) => (trailers = value), timeoutMs: 10_000 });
  t.equal(trailers?.get("closing"), "true", "connect-es reads it as a trailer");
  server.health.resume();
  await client.check({ service: "" }, { onTrailer: (value) => (trailers = value), timeoutMs: 10_000 });
  t.equal(trailers?.get("closing"), null, "gone after resume");
  t.equal(server.health.get(""), ServingStatus.Serving);
});

t.test("a closing option given to createTripleServer adds to draining", async (t) => {
  let leaving = false;
  const { server, addr } = await startServer(t, { closing: () => leaving });
  server.addService("greet.GreetService", greetExport("plain"));
  const { greet } = clients(t, addr);
  t.same((await greetOver(greet)).trailers.get("closing"), []);
  leaving = true;
  t.same((await greetOver(greet)).trailers.get("closing"), ["true"], "the application's own reason");
  leaving = false;
  server.health.drain();
  t.same((await greetOver(greet)).trailers.get("closing"), ["true"], "and draining still");
});
