import { loadProtoFiles } from "../../codec/proto-files.ts";
import { createAdminHandler } from "../../health/admin-handler.ts";
import { createProbeHandler } from "../../health/probe-handler.ts";
import { HealthRegistry } from "../../health/registry.ts";
import { defineService } from "../../server/define-service.ts";
import type { PlainHttpHandler } from "../../server/service-types.ts";
import { createTripleServer } from "../../server/triple-server.ts";
import type { CommandIo } from "../main.ts";

const usage = `usage: triple-health serve [--sample] [--service NAME]... [--host HOST] [--port N] [--admin] [--grace-ms N]

Serves grpc.health.v1.Health (gRPC, gRPC-Web, triple and Connect; h2c, HTTP/1.1) until SIGINT/SIGTERM,
then closes gracefully (every status NOT_SERVING, GOAWAY, in-flight calls finish).

  --sample        also serve greet.GreetService (Greet returns {greeting: "hello " + name})
  --service NAME  register a named service as SERVING (repeatable; no methods)
  --host HOST     address to bind (default 127.0.0.1)
  --port N        port (default $PORT, else 20000; 0 picks a free one)
  --admin         mount the admin surface (/admin/*, loopback only) and /livez, /readyz
  --grace-ms N    how long in-flight calls may finish on shutdown (default 5000)
`;

interface ServeFlags {
  sample: boolean;
  services: string[];
  host: string;
  port: number;
  admin: boolean;
  graceMs: number;
}

function parsePort(text: string | undefined, what: string): number {
  const port = Number(text);
  if (text === undefined || !/^\d+$/.test(text) || port > 65535)
    throw new Error(`${what} must be a port number, got ${JSON.stringify(text)}`);
  return port;
}

/** @internal exported for tests */
export function parseServeArgs(args: string[], env: NodeJS.ProcessEnv): ServeFlags {
  const flags: ServeFlags = {
    sample: false,
    services: [],
    host: "127.0.0.1",
    port: env.PORT === undefined || env.PORT === "" ? 20000 : parsePort(env.PORT, "PORT"),
    admin: false,
    graceMs: 5000,
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [name, inline] =
      arg.startsWith("--") && arg.includes("=")
        ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
        : [arg, undefined];
    const value = (): string => {
      const next = inline ?? args[++i];
      if (next === undefined) throw new Error(`${name} needs a value`);
      return next;
    };
    switch (name) {
      case "--sample":
        flags.sample = true;
        break;
      case "--service":
        flags.services.push(value());
        break;
      case "--host":
        flags.host = value();
        break;
      case "--port":
        flags.port = parsePort(value(), "--port");
        break;
      case "--admin":
        flags.admin = true;
        break;
      case "--grace-ms":
        flags.graceMs = parsePort(value(), "--grace-ms");
        break;
      default:
        throw new Error(`unknown flag ${arg}`);
    }
  }
  return flags;
}

/** `triple-health serve`: runs until SIGINT/SIGTERM, then closes gracefully; resolves to the exit code. */
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
    return 2;
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
    return 2;
  }
  let address: { port: number; host: string };
  try {
    address = await server.listen(flags.port, flags.host);
  } catch (error) {
    io.stderr.write(
      `triple-health serve: cannot listen on ${flags.host}:${flags.port}: ${(error as Error).message}\n`,
    );
    return 1;
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
