// `triple-health check`: grpc_health_probe's flags, messages and exit codes, over gRPC or triple.
import { ServingStatus, servingStatusName } from "../../codec/health-types.ts";
import { clientFlags, withClient, writeJson } from "../client-flags.ts";
import { type Command, ExitCode, runner } from "../command.ts";

/** `triple-health check`: one Check with grpc_health_probe's exit codes. @internal */
export const command: Command = {
  name: "check",
  usage: `usage: triple-health check -addr host:port [-service name] [flags]

Calls grpc.health.v1.Health/Check once. Exit codes (as grpc_health_probe):
  0 SERVING, 1 invalid arguments, 2 connection failed or timed out,
  3 rpc failed or timed out (NOT_FOUND for an unknown service), 4 rpc succeeded but not SERVING
`,
  flags: clientFlags,
  run: (context) =>
    withClient(context, { rpcTimeoutMs: 1000, what: "health rpc" }, async (setup) => {
      const { io } = context;
      const started = Date.now();
      const status = await setup.client.check(setup.service, { timeoutMs: setup.rpcTimeoutMs });
      const name = servingStatusName(status);
      if (setup.json) writeJson(io, { addr: setup.addr, service: setup.service, status: name });
      if (status !== ServingStatus.Serving) {
        io.stderr.write(`service unhealthy (responded with ${JSON.stringify(name)})\n`);
        return ExitCode.Unhealthy;
      }
      if (setup.verbose) io.stderr.write(`time elapsed: rpc=${Date.now() - started}ms\n`);
      if (!setup.json) io.stdout.write(`status: ${name}\n`);
      return ExitCode.Ok;
    }),
};

/** @internal */
export const run = runner(command);
