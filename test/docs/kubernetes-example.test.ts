// docs/kubernetes.md's readiness example, run as written in its own process: only the database's address
// (a closed port), the listen address (port 0) and `greetMethods` are supplied. The server must not say
// SERVING while the database is down — not even before the check's first attempt.
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { createHealthClient } from "../../src/client/health-client.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { startNode } from "../fixtures/node-process.ts";
import { packageFromSrc } from "../fixtures/package-from-src.ts";
import { unusedPort } from "../fixtures/start-server.ts";

const doc = readFileSync(new URL("../../docs/kubernetes.md", import.meta.url), "utf8");

/** The doc's first TypeScript block, which the "What the statuses mean" section shows. */
function readinessExample(): string {
  const match = /```ts\n([\s\S]*?)```/.exec(doc);
  if (match === null) throw new Error("no ```ts block in docs/kubernetes.md");
  return match[1]!;
}

function replaceOnce(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`the example no longer contains ${JSON.stringify(from)}`);
  return text.replace(from, to);
}

t.test("docs/kubernetes.md's readiness example is NOT_SERVING while its database is down", async (t) => {
  const dbPort = await unusedPort();
  let code = readinessExample();
  code = replaceOnce(code, `host: "postgres", port: 5432`, `host: "127.0.0.1", port: ${dbPort}`);
  code = replaceOnce(
    code,
    `await server.listen(50051, "0.0.0.0");`,
    `const { port } = await server.listen(0, "127.0.0.1");\nconsole.log(JSON.stringify({ port }));`,
  );
  const dir = await mkdtemp(join(tmpdir(), "kubernetes-example-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const script = join(dir, "example.mjs");
  await writeFile(script, `const greetMethods = {};\n${code}`);
  const child = startNode(t, [...packageFromSrc, script]);
  const port = (JSON.parse((await child.line(/^\{"port"/, 60_000)).input) as { port: number }).port;

  const client = createHealthClient(`127.0.0.1:${port}`, { timeoutMs: 5_000 });
  t.teardown(() => client.close());
  // From the first call on (before and after the check's attempts: 5 s apart, so ~2 of them in 6 s).
  const deadline = Date.now() + 6_000;
  let calls = 0;
  while (Date.now() < deadline) {
    t.equal(await client.check(""), ServingStatus.NotServing, `Check "" #${++calls}`);
    const readyz = await fetch(`http://127.0.0.1:${port}/readyz`);
    t.equal(readyz.status, 503, "/readyz fails");
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  t.equal(await client.check("liveness"), ServingStatus.Serving, "liveness starts passing");
  t.equal(await client.check("greet.GreetService"), ServingStatus.Serving, "the service itself is up");
});
