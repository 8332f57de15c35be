import { loadProtoFiles } from "../../codec/proto-files.ts";
import { createAdminHandler } from "../../health/admin-handler.ts";
import { createProbeHandler } from "../../health/probe-handler.ts";
import { HealthRegistry } from "../../health/registry.ts";
import { createTripleServer } from "../../host/triple-server.ts";
import { defineService } from "../../server/define-service.ts";
import type { PlainHttpHandler } from "../../server/service-types.ts";
import { FlagError, type FlagSpecs, flagHelp, parseFlags } from "../flags.ts";
import type { CommandIo } from "../main.ts";

interface ServeFlags {
  sample: boolean;
  services: string[];
  host: string;
  port: number;
  admin: boolean;
  graceMs: number;
}

const flagSpecs: FlagSpecs = {
  sample: {
    kind: "bool",
    description: 'also serve greet.GreetService (Greet returns {greeting: "hello " + name})',
  },
  service: {
    kind: "list",
    description: "register a named service as SERVING (repeatable; no methods)",
    hint: "NAME",
  },
  host: { kind: "string", description: "address to bind (default 127.0.0.1)", hint: "HOST" },
  port: { kind: "int", description: "port (default $PORT, else 20000; 0 picks a free one)", hint: "N" },
  admin: {
    kind: "bool",
    description: "mount the admin surface (/admin/*, loopback only) and /livez, /readyz",
  },
  "grace-ms": {
    kind: "int",
    description: "how long in-flight calls may finish on shutdown (default 5000)",
    hint: "N",
  },
};

const usage = `usage: triple-health serve [flags]

Serves grpc.health.v1.Health (gRPC, gRPC-Web, triple and Connect; h2c, HTTP/1.1) until SIGINT/SIGTERM,
then closes gracefully (every status NOT_SERVING, GOAWAY, in-flight calls finish).
Exit codes: 0 after a graceful close, 1 bad arguments, 2 cannot listen.

${flagHelp(flagSpecs)}`;

function checkPort(port: number, what: string): number {
  if (port > 65535) throw new FlagError(`${what} must be a port number (0-65535), got ${port}`);
  return port;
}

/** @internal exported for tests */
export function parseServeArgs(args: string[], env: NodeJS.ProcessEnv): ServeFlags {
  const { values, positionals } = parseFlags(args, flagSpecs);
  if (positionals.length > 0) throw new FlagError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  let envPort = 20000;
  if (env.PORT !== undefined && env.PORT !== "") {
    if (!/^\d+$/.test(env.PORT))
      throw new FlagError(`PORT must be a port number, got ${JSON.stringify(env.PORT)}`);
    envPort = checkPort(Number(env.PORT), "PORT");
  }
  return {
    sample: values["sample"] === true,
    services: (values["service"] as string[] | undefined) ?? [],
    host: (values["host"] as string | undefined) ?? "127.0.0.1",
    port: checkPort((values["port"] as number | undefined) ?? envPort, "-port"),
    admin: values["admin"] === true,
    graceMs: (values["grace-ms"] as number | undefined) ?? 5000,
  };
}

/**
 * `triple-health serve`: runs until SIGINT/SIGTERM, then closes gracefully; resolves to the exit code.
 * @internal
 */
export async function run(args: string[], io: CommandIo): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    io.stdout.write(usage);
    return 0;
  }
  let flags: ServeFlags;
  try {
    flags = parseServeArgs(args, io.env);
  } catch (error) {
    io.stderr.write(`triple-health serve: ${(error as Error).message}\n\n${usage}`);
    return 1;
  }
  const health = new HealthRegistry();
  const plainHttpHandlers: PlainHttpHandler[] = flags.admin
    ? [createAdminHandler(health), createProbeHandler(health)]
    : [];
  const server = createTripleServer({ health, plainHttpHandlers });
  try {
    if (flags.sample) {
      const root = loadProtoFiles("greet.proto");
      server.addService(
        "greet.GreetService",
        defineService(root, "greet.GreetService", {
          Greet: (request: { name: string }) => ({ greeting: `hello ${request.name}` }),
        }),
      );
    }
    for (const name of flags.services) server.addService(name, {});
  } catch (error) {
    io.stderr.write(`triple-health serve: ${(error as Error).message}\n`);
    return 1;
  }
  let address: { port: number; host: string };
  try {
    address = await server.listen(flags.port, flags.host);
  } catch (error) {
    io.stderr.write(
      `triple-health serve: cannot listen on ${flags.host}:${flags.port}: ${(error as Error).message}\n`,
    );
    return 2;
  }
  const host = address.host.includes(":") ? `[${address.host}]` : address.host;
  io.stdout.write(
    `triple-health serving ${server.handler.services.join(", ")} on http://${host}:${address.port} (h2c, HTTP/1.1)\n`,
  );
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.removeListener("SIGINT", onSignal);
      process.removeListener("SIGTERM", onSignal);
      io.stdout.write(`triple-health: ${signal}, closing (grace ${flags.graceMs} ms)\n`);
      resolve();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
  await server.close({ graceMs: flags.graceMs });
  io.stdout.write("triple-health: closed\n");
  return 0;
}
