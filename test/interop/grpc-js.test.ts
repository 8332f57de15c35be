// @grpc/grpc-js as the peer: the gRPC client of Kubernetes-era Node services, over h2c.
import * as grpc from "@grpc/grpc-js";
import t, { type Test } from "tap";
import {
  type CheckResponse,
  GrpcHealthClient as HealthClient,
  type GrpcHealthStub as HealthStub,
} from "../fixtures/grpc-health.ts";
import { startGrpcJsReference } from "../fixtures/interop-reference.ts";
import { eventually, type InteropTarget, startTarget, watchDeadlineMs } from "../fixtures/interop-target.ts";

async function setup(t: Test): Promise<{ target: InteropTarget; client: HealthStub }> {
  const target = await startTarget(t, startGrpcJsReference);
  const client = new HealthClient(
    `127.0.0.1:${target.port("2")}`,
    grpc.credentials.createInsecure(),
  ) as unknown as HealthStub;
  t.teardown(() => client.close());
  return { target, client };
}

function check(client: HealthStub, service: string): Promise<CheckResponse> {
  return new Promise((resolve, reject) =>
    client.check({ service }, { deadline: Date.now() + 5000 }, (error, response) =>
      error ? reject(error) : resolve(response!),
    ),
  );
}

/** Collects a Watch stream: its messages, and how it ended (status event). */
function watch(client: HealthStub, service: string, options: grpc.CallOptions = {}) {
  const call = client.watch({ service }, options);
  const messages: string[] = [];
  const waiters: (() => void)[] = [];
  call.on("data", (message: CheckResponse) => {
    messages.push(message.status);
    for (const wake of waiters.splice(0)) wake();
  });
  call.on("error", () => {}); // the status event below is what the tests read
  const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
  const nextMessage = async (count: number): Promise<string | undefined> => {
    while (messages.length < count) {
      const ended = await Promise.race([
        status.then(() => true),
        new Promise<false>((resolve) => waiters.push(() => resolve(false))),
      ]);
      if (ended) break;
    }
    return messages[count - 1];
  };
  return { call, messages, status, nextMessage };
}

t.test("Check answers SERVING for a known service and the whole server", async (t) => {
  const { client } = await setup(t);
  t.same(await check(client, "greet.GreetService"), { status: "SERVING" });
  t.same(await check(client, ""), { status: "SERVING" });
});

t.test("Check of an unknown service fails with NOT_FOUND", async (t) => {
  const { client } = await setup(t);
  const error = await check(client, "no.such.Service").then(
    () => undefined,
    (error: grpc.ServiceError) => error,
  );
  t.equal(error?.code, grpc.status.NOT_FOUND, "grpc-status 5");
  t.match(error?.details, /\S/, "grpc-message is not empty");
});

t.test("Check follows a status change", async (t) => {
  const { target, client } = await setup(t);
  target.set("greet.GreetService", "NOT_SERVING");
  t.same(await check(client, "greet.GreetService"), { status: "NOT_SERVING" });
});

t.test("Watch sends the current status, then the change", async (t) => {
  const { target, client } = await setup(t);
  const watched = watch(client, "greet.GreetService");
  t.equal(await watched.nextMessage(1), "SERVING", "first message is the current status");
  target.set("greet.GreetService", "NOT_SERVING");
  t.equal(await watched.nextMessage(2), "NOT_SERVING", "then the change");
  watched.call.cancel();
  t.equal((await watched.status).code, grpc.status.CANCELLED);
  t.equal(await eventually(() => target.watcherCount(), 0), 0, "the server let go of the watcher");
});

t.test("Watch of an unknown service sends SERVICE_UNKNOWN and stays open", async (t) => {
  const { target, client } = await setup(t);
  const watched = watch(client, "later.Service");
  t.equal(await watched.nextMessage(1), "SERVICE_UNKNOWN");
  target.set("later.Service", "SERVING");
  t.equal(await watched.nextMessage(2), "SERVING", "the service became known");
  watched.call.cancel();
  await watched.status;
});

t.test("a Watch with a deadline ends DEADLINE_EXCEEDED after its first message", async (t) => {
  const { target, client } = await setup(t);
  const watched = watch(client, "greet.GreetService", { deadline: Date.now() + watchDeadlineMs });
  t.equal(await watched.nextMessage(1), "SERVING");
  const status = await watched.status;
  t.equal(status.code, grpc.status.DEADLINE_EXCEEDED, "grpc-status 4");
  t.same(watched.messages, ["SERVING"], "nothing after the first message");
  t.equal(await eventually(() => target.watcherCount(), 0), 0, "watcherCount back to 0");
});

t.test("List returns every status", async (t) => {
  const { target, client } = await setup(t);
  target.set("other.Service", "NOT_SERVING");
  const response = await new Promise<{ statuses: Record<string, CheckResponse> }>((resolve, reject) =>
    client.list({}, { deadline: Date.now() + 5000 }, (error, response) =>
      error ? reject(error) : resolve(response!),
    ),
  );
  // Servers may list more (their own health service, say): the three set here must be there, exactly.
  t.match(response.statuses, {
    "": { status: "SERVING" },
    "greet.GreetService": { status: "SERVING" },
    "other.Service": { status: "NOT_SERVING" },
  });
});

t.test("closing the server: a Watch sees NOT_SERVING, then ends cleanly", async (t) => {
  const { target, client } = await setup(t);
  const watched = watch(client, "greet.GreetService");
  t.equal(await watched.nextMessage(1), "SERVING");
  const closing = target.shutdown();
  t.equal(await watched.nextMessage(2), "NOT_SERVING", "the server's last word on the service");
  const status = await watched.status;
  // A clean end either way: OK (nothing will change any more) or UNAVAILABLE (go elsewhere); not a
  // reset (CANCELLED/INTERNAL) or an UNKNOWN from a half-written stream.
  t.ok(
    status.code === grpc.status.OK || status.code === grpc.status.UNAVAILABLE,
    `grpc-status ${status.code} (${status.details}) is OK or UNAVAILABLE`,
  );
  t.same(watched.messages, ["SERVING", "NOT_SERVING"], "nothing else");
  await closing;
});
