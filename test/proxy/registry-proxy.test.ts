// `triple-health proxy -registry` in front of providers that register themselves in a real 3-server
// ZooKeeper ensemble: a grpc-js client calling through it sees no failed call while the providers restart
// one at a time with SIGTERM and the ensemble loses its leader meanwhile.
import * as grpc from "@grpc/grpc-js";
import t from "tap";
import { compiledTest } from "../fixtures/compiled-src.ts";
import { GrpcHealthClient, type GrpcHealthStub } from "../fixtures/grpc-health.ts";
import { startNode, stderrLine } from "../fixtures/node-process.ts";
import { startCli } from "../fixtures/run-cli.ts";
import { needsZooKeeper, startEnsemble } from "../fixtures/zookeeper-ensemble.ts";
import { from, grpcClient, grpcGreet } from "./fixtures/proxy-harness.ts";

const script = compiledTest("test/proxy/fixtures/registered-upstream.ts");

t.test("a rolling SIGTERM restart behind proxy -registry loses no call", needsZooKeeper(), async (t) => {
  const ensemble = await startEnsemble(t);
  const registry = `zookeeper://${ensemble.connectString}?session=6000`;
  const start = async (id: string) => {
    const upstream = startNode(t, [script, id, registry, "1000"], { stderr: "inherit", loader: false });
    await upstream.line(/^\{/, 90_000);
    return upstream;
  };
  const providers = [await start("a1"), await start("b1"), await start("c1")];
  const proxy = startCli(t, [
    "proxy",
    "--listen",
    "127.0.0.1:0",
    "--registry",
    registry,
    "--service",
    "greet.GreetService",
  ]);
  const first = (await stderrLine(proxy, /^triple-health proxy on.*$/m, 90_000))[0];
  t.match(first, /→ the providers in zookeeper:\/\/.* for greet\.GreetService$/);
  const port = /:(\d+) /.exec(first)![1]!;
  const client = grpcClient(t, `127.0.0.1:${port}`);
  const health = new GrpcHealthClient(
    `127.0.0.1:${port}`,
    grpc.credentials.createInsecure(),
  ) as unknown as GrpcHealthStub;
  t.teardown(() => health.close());

  // Wait until every provider takes calls through the proxy.
  const seen = new Set<string>();
  const deadline = Date.now() + 30_000;
  while (seen.size < 3 && Date.now() < deadline) {
    try {
      seen.add(from((await grpcGreet(client, "warm")).greeting));
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  t.same([...seen].sort(), ["a1", "b1", "c1"], "the three providers found in ZooKeeper");

  // Calls the whole time: two Greet loops (forwarded) and a Check loop (the proxy's own health).
  let running = true;
  const failures: string[] = [];
  const answeredBy = new Map<string, number>();
  let calls = 0;
  const greetLoop = async () => {
    while (running) {
      try {
        const id = from((await grpcGreet(client, "rolling")).greeting);
        answeredBy.set(id, (answeredBy.get(id) ?? 0) + 1);
      } catch (error) {
        failures.push(`Greet: ${(error as Error).message}`);
      }
      calls++;
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
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const loops = [greetLoop(), greetLoop(), checkLoop()];

  const ids = ["a", "b", "c"];
  for (let i = 0; i < 3; i++) {
    t.equal(await providers[i]!.stop("SIGTERM"), 0, `${ids[i]}1 closed gracefully`);
    providers[i] = await start(`${ids[i]}2`);
    const id = `${ids[i]}2`;
    const until = Date.now() + 20_000;
    while ((answeredBy.get(id) ?? 0) === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    t.ok((answeredBy.get(id) ?? 0) > 0, `${id} takes calls through the proxy`);
    // Halfway, the ensemble loses its leader: nothing a client sees but delay.
    if (i === 0) {
      const leader = await ensemble.leaderIndex();
      if (leader >= 0) await ensemble.kill(leader);
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  running = false;
  await Promise.all(loops);
  t.ok(calls > 100, `${calls} calls made during the restart`);
  t.same(failures, [], "no failed call");
  t.same(
    [...answeredBy.keys()].filter((id) => id.endsWith("1")).length <= 3 &&
      ["a2", "b2", "c2"].every((id) => answeredBy.has(id)),
    true,
    "every restarted provider took calls",
  );
  t.equal(await proxy.stop("SIGTERM"), 0);
  t.match(proxy.stderr, /upstream tri:\/\/127\.0\.0\.1:\d+ discovered \((interface|instance)/);
  t.match(proxy.stderr, /upstream tri:\/\/127\.0\.0\.1:\d+ gone from the registry/);
});
