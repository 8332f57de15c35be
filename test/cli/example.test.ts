// examples/client.mjs against examples/server.mjs, both as child processes: the dubbo-go sample's output.
import t from "tap";
import { runNode, startNode } from "../fixtures/node-process.ts";
import { runCli } from "../fixtures/run-cli.ts";

// Users run the examples with plain node after `npm run build`, where "triple-health" resolves to dist/
// through the package's own exports. Here a resolve hook points that name at src/ (run by tap's loader,
// which the children inherit), so the test checks the code under test rather than whatever build exists.
const srcIndex = new URL("../../src/index.ts", import.meta.url).href;
const toSrc = `export function resolve(specifier, context, next) {
  return next(specifier === "triple-health" ? ${JSON.stringify(srcIndex)} : specifier, context);
}`;
const registerToSrc = `import { register } from "node:module";
register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(toSrc)}`)});`;
const packageFromSrc = ["--import", `data:text/javascript,${encodeURIComponent(registerToSrc)}`];

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
