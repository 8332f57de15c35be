// `triple-health serve`: the demo server (Health plus named services) until SIGINT/SIGTERM.
import { loadProtoFiles } from "../../codec/proto-files.ts";
import { createAdminHandler } from "../../health/admin-handler.ts";
import { createProbeHandler } from "../../health/probe-handler.ts";
import { HealthRegistry } from "../../health/registry.ts";
import { serviceKey } from "../../health/service-key.ts";
import { createTripleServer } from "../../host/triple-server.ts";
import { defineService } from "../../server/define-service.ts";
import type { PlainHttpHandler } from "../../server/service-types.ts";
import { type Command, CommandError, ExitCode, linePrefix, rejectPositionals, runner } from "../command.ts";
import { FlagError, type FlagSpecs, parseFlags } from "../flags.ts";
import { serveUntilStopped } from "../stop-signals.ts";

interface ServeFlags {
  sample: boolean;
  services: string[];
  serviceGroup: string | undefined;
  serviceVersion: string | undefined;
  host: string;
  port: number;
  admin: boolean;
  graceMs: number;
}

const flags: FlagSpecs = {
  sample: {
    kind: "bool",
    description: 'also serve greet.GreetService (Greet returns {greeting: "hello " + name})',
  },
  service: {
    kind: "list",
    description: "register a named service as SERVING (repeatable; no methods)",
    hint: "NAME",
  },
  "service-group": {
    kind: "string",
    description:
      "Dubbo group of the -sample and -service exports: calls pick them by tri-service-group, health has them under G/NAME too",
    hint: "G",
  },
  "service-version": {
    kind: "string",
    description:
      "Dubbo version of the -sample and -service exports: calls pick them by tri-service-version, health has them under NAME:V too (0.0.0 counts as none)",
    hint: "V",
  },
  host: { kind: "string", description: "address to bind (default 127.0.0.1)", hint: "HOST" },
  port: { kind: "int", description: "port (default $PORT, else 20000; 0 picks a free one)", hint: "N" },
  admin: {
    kind: "bool",
    description: "mount the admin surface (/admin/*, loopback only) and /livez, /readyz",
  },
  grace: { kind: "duration", description: "how long calls in flight may finish on shutdown (default 5s)" },
  "grace-ms": { kind: "int", hint: "N", description: "deprecated: -grace in milliseconds" },
};

function checkPort(port: number, what: string): number {
  if (port > 65535) throw new FlagError(`${what} must be a port number (0-65535), got ${port}`);
  return port;
}

/** @internal exported for tests */
export function parseServeArgs(args: string[], env: NodeJS.ProcessEnv): ServeFlags {
  const { values, positionals } = parseFlags(args, flags);
  return serveFlags(values, positionals, env);
}

function serveFlags(
  values: ReturnType<typeof parseFlags>["values"],
  positionals: readonly string[],
  env: NodeJS.ProcessEnv,
): ServeFlags {
  rejectPositionals(positionals);
  let envPort = 20000;
  if (env.PORT !== undefined && env.PORT !== "") {
    if (!/^\d+$/.test(env.PORT))
      throw new FlagError(`PORT must be a port number, got ${JSON.stringify(env.PORT)}`);
    envPort = checkPort(Number(env.PORT), "PORT");
  }
  return {
    sample: values["sample"] === true,
    services: (values["service"] as string[] | undefined) ?? [],
    serviceGroup: values["service-group"] as string | undefined,
    serviceVersion: values["service-version"] as string | undefined,
    host: (values["host"] as string | undefined) ?? "127.0.0.1",
    port: checkPort((values["port"] as number | undefined) ?? envPort, "-port"),
    admin: values["admin"] === true,
    graceMs: (values["grace"] as number | undefined) ?? (values["grace-ms"] as number | undefined) ?? 5000,
  };
}

/** `triple-health serve`: runs until SIGINT/SIGTERM, then closes gracefully. @internal */
export const command: Command = {
  name: "serve",
  host: true,
  usage: `usage: triple-health serve [flags]

Serves grpc.health.v1.Health (gRPC, gRPC-Web, triple and Connect; h2c, HTTP/1.1) until SIGINT/SIGTERM,
then closes gracefully (every status NOT_SERVING, GOAWAY, in-flight calls finish).
Exit codes: 0 after a graceful close, 1 bad arguments, 2 cannot listen.
`,
  flags,
  async run({ io, values, positionals }) {
    const options = serveFlags(values, positionals, io.env);
    const health = new HealthRegistry();
    const plainHttpHandlers: PlainHttpHandler[] = options.admin
      ? [createAdminHandler(health), createProbeHandler(health)]
      : [];
    const server = createTripleServer({ health, plainHttpHandlers });
    const exported = { group: options.serviceGroup, version: options.serviceVersion };
    try {
      if (options.sample) {
        const root = loadProtoFiles("greet.proto");
        server.addService(
          "greet.GreetService",
          defineService(root, "greet.GreetService", {
            Greet: (request: { name: string }) => ({ greeting: `hello ${request.name}` }),
          }),
          exported,
        );
      }
      for (const name of options.services) server.addService(name, {}, exported);
    } catch (error) {
      throw new FlagError((error as Error).message);
    }
    let address: { port: number; host: string };
    try {
      address = await server.listen(options.port, options.host);
    } catch (error) {
      throw new CommandError(
        ExitCode.ConnectionFailure,
        `cannot listen on ${options.host}:${options.port}: ${(error as Error).message}`,
      );
    }
    const host = address.host.includes(":") ? `[${address.host}]` : address.host;
    io.stdout.write(
      `triple-health serving ${server.handler.exports.map((e) => serviceKey(e.service, e.group, e.version)).join(", ")} on http://${host}:${address.port} (h2c, HTTP/1.1)\n`,
    );
    return serveUntilStopped(server, io, { prefix: linePrefix(command), graceMs: options.graceMs });
  },
};

/** @internal */
export const run = runner(command);
