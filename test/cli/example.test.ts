// examples/client.ts against examples/server.ts, both as child processes: the dubbo-go sample's output.
import { spawn } from "node:child_process";
import t from "tap";
import { runCli, spawnCli } from "./fixtures/run-cli.ts";

t.test("the example client prints the sample's line twice", async (t) => {
  const server = spawn(process.execPath, [...process.execArgv, "examples/server.ts", "0"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  t.teardown(() => {
    server.kill("SIGTERM");
  });
  const address = await new Promise<string>((resolve, reject) => {
    let text = "";
    server.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      text += chunk;
      const match = /listening on (\S+)/.exec(text);
      if (match) resolve(match[1]!);
    });
    server.on("exit", () => reject(new Error("server exited")));
  });
  const client = await spawnCli([address], { script: "examples/client.ts" });
  t.equal(client.code, 0);
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
  const closed = new Promise((resolve) => server.on("exit", resolve));
  server.kill("SIGTERM");
  t.equal(await closed, 0, "the example server exits 0 on SIGTERM");
});
