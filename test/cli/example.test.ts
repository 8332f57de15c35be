// examples/client.mjs against examples/server.mjs, both as child processes: the dubbo-go sample's output.
import t from "tap";
import { runNode, startNode } from "../fixtures/node-process.ts";
import { packageFromSrc } from "../fixtures/package-from-src.ts";
import { runCli } from "../fixtures/run-cli.ts";

t.test("the example client prints the sample's line twice", async (t) => {
  const server = startNode(t, [...packageFromSrc, "examples/server.mjs", "0"], { stderr: "inherit" });
  const address = (await server.line(/listening on (\S+)/))[1]!;
  const client = await runNode([...packageFromSrc, "examples/client.mjs", address]);
  t.equal(client.code, 0, client.stderr);
  t.equal(
    client.stdout,
    "greet.GreetService's health status:SERVING\ngreet.GreetService's health status:SERVING\n",
  );
  const check = await runCli([
    "check",
    "-addr",
    address,
    "-service",
    "greet.GreetService",
    "--protocol",
    "triple",
  ]);
  t.equal(check.code, 0);
  t.equal(await server.stop("SIGTERM"), 0, "the example server exits 0 on SIGTERM");
});
