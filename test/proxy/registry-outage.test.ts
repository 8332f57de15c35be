// The whole ZooKeeper ensemble stopped under `triple-health proxy -registry`, for longer than every session
// timeout (the proxy's and the providers'), with a grpc-js client calling through the proxy the whole
// time: the calls keep going to the last known providers; once the ensemble is back the providers'
// registrations come back (new sessions) and the proxy's set follows the registry again — a provider
// joining takes calls, one leaving is dropped. No failed call.
import * as grpc from "@grpc/grpc-js";
import t from "tap";
import type { RegistrationEvent } from "../../src/discovery/registration.ts";
import { createTripleServer, type TripleServer } from "../../src/host/triple-server.ts";
import { GrpcHealthClient, type GrpcHealthStub } from "../fixtures/grpc-health.ts";
import { stderrLine } from "../fixtures/node-process.ts";
import { startCli } from "../fixtures/run-cli.ts";
import { needsZooKeeper, startEnsemble } from "../fixtures/zookeeper-ensemble.ts";
import { addGreetServices } from "./fixtures/greet-services.ts";
import { from, grpcClient, grpcGreet } from "./fixtures/proxy-harness.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const providerSessionMs = 3000;
const proxySessionMs = 4000;

t.test("the ensemble down past every session timeout under proxy -registry", needsZooKeeper(), async (t) => {
  const ensemble = await startEnsemble(t);
  const registry = `zookeeper://${ensemble.connectString}?session=${providerSessionMs}`;
  // Ours, registered by createTripleServer at both levels, SIGTERM-free: closed by the test.
  const provider = async (id: string) => {
    const events: RegistrationEvent[] = [];
    const server: TripleServer = createTripleServer({
      registry,
      application: "greet-app",
      drainDelayMs: 1000,
      onRegistration: (event) => events.push(event),
    });
    addGreetServices(server, id);
    const { port } = await server.listen(0, "127.0.0.1");
    t.teardown(() => server.close({ graceMs: 0 }));
    return { id, server, port, events };
  };
  const [a, b] = await Promise.all([provider("a"), provider("b")]);
  const proxy = startCli(t, [
    "proxy",
    "-listen",
    "127.0.0.1:0",
    "-registry",
    `zookeeper://${ensemble.connectString}?session=${proxySessionMs}`,
    "-service",
    "greet.GreetService",
  ]);
  const banner = (
    await stderrLine(proxy, /^triple-health proxy on http:\/\/127\.0\.0\.1:(\d+) .*$/m, 180_000)
  )[0];
  const address = `127.0.0.1:${/:(\d+) /.exec(banner)![1]}`;
  const client = grpcClient(t, address);
  const health = new GrpcHealthClient(
    address,
    grpc.credentials.createInsecure(),
  ) as unknown as GrpcHealthStub;
  t.teardown(() => health.close());

  let running = true;
  const failures: string[] = [];
  const answeredBy = new Map<string, number>();
  let calls = 0;
  const greetLoop = async () => {
    while (running) {
      try {
        const id = from((await grpcGreet(client, "outage")).greeting);
        answeredBy.set(id, (answeredBy.get(id) ?? 0) + 1);
      } catch (error) {
        failures.push(`Greet: ${(error as Error).message}`);
      }
      calls++;
      await sleep(5);
    }
  };
  const checkLoop = async () => {
    while (running) {
      const status = await new Promise<string>((resolve) =>
        health.check({ service: "greet.GreetService" }, { deadline: Date.now() + 5000 }, (error, response) =>
          resolve(error === null ? response!.status : `error ${error.message}`),
        ),
      );
      if (status !== "SERVING") failures.push(`Check: ${status}`);
      calls++;
      await sleep(20);
    }
  };
  // Both providers take calls through the proxy before anything fails.
  const warm = Date.now() + 60_000;
  while (!(answeredBy.has("a") && answeredBy.has("b")) && Date.now() < warm) {
    try {
      const id = from((await grpcGreet(client, "warm")).greeting);
      answeredBy.set(id, (answeredBy.get(id) ?? 0) + 1);
    } catch {
      await sleep(100);
    }
  }
  t.ok(answeredBy.has("a") && answeredBy.has("b"), "both providers found and routed");
  const loops = [greetLoop(), greetLoop(), checkLoop()];
  const count = (id: string) => answeredBy.get(id) ?? 0;

  // The whole ensemble down, for twice the longest session timeout.
  await ensemble.stopAll();
  const downAt = Date.now();
  await stderrLine(proxy, /registry lost/, 30_000);
  const before = { a: count("a"), b: count("b") };
  await sleep(2 * proxySessionMs);
  t.ok(
    count("a") > before.a && count("b") > before.b,
    `both still take calls with the registry down (a +${count("a") - before.a}, b +${count("b") - before.b})`,
  );
  t.ok(Date.now() - downAt > proxySessionMs, "down longer than the proxy's session timeout");

  // Back: the providers' sessions expired with their nodes; they register again on new sessions.
  ensemble.startAll();
  await ensemble.ready(60_000);
  await stderrLine(proxy, /registry back/, 60_000);
  for (const p of [a, b]) {
    const end = Date.now() + 30_000;
    while (!p.events.some((e) => e.kind === "session-expired") && Date.now() < end) await sleep(50);
    const expiredAt = p.events.findIndex((e) => e.kind === "session-expired");
    t.ok(expiredAt >= 0, `${p.id}'s session expired during the outage`);
    while (!p.events.slice(expiredAt).some((e) => e.kind === "registered") && Date.now() < end)
      await sleep(50);
    t.ok(
      p.events.slice(expiredAt).some((e) => e.kind === "registered"),
      `${p.id} registered again on a new session`,
    );
  }

  // The set follows the registry again: c joins and takes calls; a leaves (unregistered, then closed).
  const c = await provider("c");
  const joined = Date.now() + 30_000;
  while (count("c") === 0 && Date.now() < joined) await sleep(50);
  t.ok(count("c") > 0, "a provider joining after the outage takes calls");
  await a.server.close({ graceMs: 2000 });
  await stderrLine(proxy, new RegExp(`tri://127\\.0\\.0\\.1:${a.port} gone from the registry`), 30_000);
  const afterA = count("a");
  await sleep(500);
  t.equal(count("a"), afterA, "the provider that left takes no more calls");
  t.ok(count("b") > before.b && count("c") > 0, "the others keep taking them");

  running = false;
  await Promise.all(loops);
  t.same(failures, [], "no failed call, through the outage and after");
  t.ok(calls > 200, `${calls} calls`);
  t.comment(`${calls} calls; answered by ${JSON.stringify(Object.fromEntries(answeredBy))}`);
  t.equal(await proxy.stop("SIGTERM"), 0);
  await c.server.close({ graceMs: 0 });
});
