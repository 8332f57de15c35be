// examples/server.mjs on a port already taken (by `npm start`, most often): one line saying so and what to
// do, exit 1, instead of an EADDRINUSE stack.
import net from "node:net";
import t from "tap";
import { runNode } from "../fixtures/node-process.ts";
import { packageFromSrc } from "../fixtures/package-from-src.ts";

t.test("a port in use: a clear message and exit 1", async (t) => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  t.teardown(() => taken.close());
  const port = (taken.address() as net.AddressInfo).port;
  const run = await runNode([...packageFromSrc, "examples/server.mjs", String(port)], {
    killAfterMs: 60_000,
  });
  t.equal(run.code, 1, "exit 1");
  t.match(run.stderr, `127.0.0.1:${port} is already in use (is \`npm start\` still running?)`);
  t.match(
    run.stderr,
    /node examples\/server\.mjs 0 to get a free port/,
    "says what to do: a port that cannot be taken too",
  );
  t.notMatch(run.stderr, /EADDRINUSE|at .*\(/, "no stack");
});
