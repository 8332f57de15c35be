// Flags shared by check, watch and list: where to connect and how (grpc_health_probe's names).
import { readFileSync } from "node:fs";
import { createCallClientOver, type TransportMaker } from "../client/call-client-over.ts";
import {
  type HealthClient,
  type HealthClientOptions,
  healthClientOver,
} from "../client/health-client-over.ts";
import { Http2Transport } from "../client/http2-transport.ts";
import type { ClientTlsOptions } from "../client/tls-options.ts";
import { connectFailureKind } from "../client/transport-errors.ts";
import { Code, grpcCodeName } from "../wire/code.ts";
import { ConfigError } from "../wire/config-error.ts";
import { RpcError } from "../wire/rpc-error.ts";
import { type CommandContext, CommandError, ExitCode } from "./command.ts";
import { FlagError, type FlagSpecs, type FlagValue, formatDuration } from "./flags.ts";
import type { CommandIo } from "./main.ts";
import { createVerboseTrace } from "./verbose.ts";

/**
 * grpc_health_probe's flags (plus our protocol, codec and output ones), shared by check, watch and list.
 * @internal
 */
export const clientFlags: FlagSpecs = {
  addr: {
    kind: "string",
    hint: "host:port",
    description: "(required) server address: host:port, http(s)://host:port or tri://host:port",
  },
  service: { kind: "string", hint: "name", description: 'service name (default: "", the whole server)' },
  "connect-timeout": {
    kind: "duration",
    description: "timeout for establishing the connection (default 1s)",
  },
  "rpc-timeout": { kind: "duration", description: "timeout for the health rpc (default 1s; watch: none)" },
  "keepalive-time": {
    kind: "duration",
    description:
      "HTTP/2 PING after this long without a byte from the server while a call runs (default 10s; 0: off)",
  },
  "keepalive-timeout": {
    kind: "duration",
    description: "the connection is dead when a PING gets no ACK within this (default 10s)",
  },
  "rpc-header": {
    kind: "list",
    hint: "'name: value'",
    description: "additional request metadata; repeatable",
  },
  "user-agent": {
    kind: "string",
    hint: "text",
    description: "user-agent header (default: triple-health/<version>)",
  },
  tls: { kind: "bool", description: "use TLS (default: false, plaintext HTTP/2 prior knowledge)" },
  "tls-no-verify": {
    kind: "bool",
    description: "(with -tls) don't verify the server certificate (INSECURE)",
  },
  "tls-ca-cert": {
    kind: "string",
    hint: "file",
    description: "(with -tls) trusted CA certificates (PEM) instead of the system roots",
  },
  "tls-client-cert": {
    kind: "string",
    hint: "file",
    description: "(with -tls) client certificate (PEM); needs -tls-client-key",
  },
  "tls-client-key": {
    kind: "string",
    hint: "file",
    description: "(with -tls) client private key (PEM); needs -tls-client-cert",
  },
  "tls-server-name": {
    kind: "string",
    hint: "name",
    description: "(with -tls) server name for SNI and certificate checks",
  },
  protocol: {
    kind: "string",
    hint: "grpc|triple",
    choices: ["grpc", "triple"],
    description: "wire protocol (default grpc)",
  },
  codec: {
    kind: "string",
    hint: "proto|json",
    choices: ["proto", "json"],
    description: "message codec (default proto)",
  },
  http1: { kind: "bool", description: "use HTTP/1.1 (triple only; gRPC needs HTTP/2)" },
  gzip: { kind: "bool", description: "compress the request with gzip (gRPC; responses are read either way)" },
  alts: { kind: "bool", description: "use ALTS: not supported (grpc_health_probe's flag; exits 1)" },
  spiffe: {
    kind: "bool",
    description: "use SPIFFE workload API credentials: not supported (grpc_health_probe's flag; exits 1)",
  },
  json: { kind: "bool", description: "print JSON" },
  verbose: {
    kind: "bool",
    aliases: ["v"],
    description: "print request and response headers, messages and trailers to stderr",
  },
};

/** The client flags without -service, for list (which has no service to name). @internal */
export const listFlags: FlagSpecs = Object.fromEntries(
  Object.entries(clientFlags).filter(([name]) => name !== "service"),
);

/** What the client flags resolved to: the client to call and how to call and report. @internal */
export interface ClientSetup {
  readonly client: HealthClient;
  readonly addr: string;
  readonly service: string;
  readonly connectTimeoutMs: number;
  readonly rpcTimeoutMs: number | undefined;
  readonly json: boolean;
  readonly verbose: boolean;
  readonly tls: boolean;
}

/** Validates the flags the way grpc_health_probe does and builds the client. Throws FlagError. @internal */
export function setupClient(
  values: Readonly<Record<string, FlagValue>>,
  positionals: readonly string[],
  io: CommandIo,
  defaults: { rpcTimeoutMs: number | undefined },
  makeTransport: TransportMaker = http2Only,
): ClientSetup {
  const addr = (values["addr"] as string | undefined) ?? positionals[0];
  // The address may come as the one positional argument; anything more is a mistake, not something to ignore.
  const extra = positionals[values["addr"] === undefined ? 1 : 0];
  if (extra !== undefined) throw new FlagError(`unexpected argument ${JSON.stringify(extra)}`);
  if (addr === undefined || addr === "") throw new FlagError("-addr not specified");
  const connectTimeoutMs = (values["connect-timeout"] as number | undefined) ?? 1000;
  const rpcTimeoutMs = (values["rpc-timeout"] as number | undefined) ?? defaults.rpcTimeoutMs;
  if (connectTimeoutMs <= 0) {
    throw new FlagError(
      `-connect-timeout must be greater than zero (specified: ${formatDuration(connectTimeoutMs)})`,
    );
  }
  if (rpcTimeoutMs !== undefined && rpcTimeoutMs <= 0) {
    throw new FlagError(
      `-rpc-timeout must be greater than zero (specified: ${formatDuration(rpcTimeoutMs)})`,
    );
  }
  // grpc_health_probe's order of checks (main.go, init): these two before the TLS ones.
  if (values["alts"] === true && values["spiffe"] === true)
    throw new FlagError("-alts and -spiffe are mutually incompatible");
  if (values["tls"] === true && values["alts"] === true)
    throw new FlagError("cannot specify -tls with -alts");
  const tls = tlsFromFlags(values, addr);
  if (values["tls"] === true && values["spiffe"] === true)
    throw new FlagError("-tls and -spiffe are mutually incompatible");
  if (values["alts"] === true)
    throw new FlagError("-alts is not supported by triple-health (Google's ALTS handshaker); use -tls");
  if (values["spiffe"] === true)
    throw new FlagError(
      "-spiffe is not supported by triple-health (no SPIFFE workload API client); use -tls with -tls-client-cert and -tls-client-key",
    );
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(addr) && missingPort(addr)) {
    // grpc_health_probe hands a bare host to grpc-go, whose dialer fails with "missing port in address" on
    // every attempt until -connect-timeout: exit 2. Same exit code, at once and with the reason.
    throw new CommandError(
      ExitCode.ConnectionFailure,
      `failed to connect service at ${JSON.stringify(addr)}: missing port in address (want host:port)`,
    );
  }
  const metadata: Record<string, string[]> = {};
  for (const header of (values["rpc-header"] as string[] | undefined) ?? []) {
    const colon = header.indexOf(":");
    if (colon <= 0) throw new FlagError(`invalid -rpc-header ${JSON.stringify(header)}: want 'name: value'`);
    const name = header.slice(0, colon).trim().toLowerCase();
    metadata[name] = [...(metadata[name] ?? []), header.slice(colon + 1).trim()];
  }
  const verbose = values["verbose"] === true;
  const options: HealthClientOptions = {
    protocol: values["protocol"] as "grpc" | "triple" | undefined,
    codec: values["codec"] as "proto" | "json" | undefined,
    httpVersion: values["http1"] === true ? "1.1" : "2",
    connectTimeoutMs,
    keepaliveTimeMs: wholeMs(values["keepalive-time"]),
    keepaliveTimeoutMs: wholeMs(values["keepalive-timeout"]),
    metadata,
    tls,
    userAgent: values["user-agent"] as string | undefined,
    gzipRequests: values["gzip"] === true,
    trace: verbose ? createVerboseTrace(io.stderr) : undefined,
  };
  let client: HealthClient;
  try {
    client = healthClientOver(
      createCallClientOver(normalizeAddress(addr, tls !== undefined), options, makeTransport),
    );
  } catch (error) {
    if (error instanceof ConfigError) throw new FlagError(error.message);
    throw error;
  }
  if (verbose) {
    io.stderr.write(
      `parsed options:\n> addr=${addr} conn_timeout=${formatDuration(connectTimeoutMs)} rpc_timeout=${
        rpcTimeoutMs === undefined ? "none" : formatDuration(rpcTimeoutMs)
      }\n> protocol=${client.calls.protocol} codec=${client.calls.codec} http=${client.calls.httpVersion} tls=${tls !== undefined}\n`,
    );
  }
  return {
    client,
    addr,
    service: (values["service"] as string | undefined) ?? "",
    connectTimeoutMs,
    rpcTimeoutMs,
    json: values["json"] === true,
    verbose,
    tls: tls !== undefined,
  };
}

/**
 * The CLI's clients are built here rather than by createHealthClient, which imports both transports: a probe
 * (`check` over HTTP/2, every few seconds in every pod) then never loads undici; `-http1` imports it first.
 */
const http2Only: TransportMaker = (url, options) => new Http2Transport(url, options);

async function withHttp1(): Promise<TransportMaker> {
  const { Http1Transport } = await import("../client/http1-transport.ts");
  return (url, options, httpVersion) =>
    httpVersion === "2" ? new Http2Transport(url, options) : new Http1Transport(url, options);
}

// A duration flag as the whole milliseconds the client options take (`1.5ms` → 2).
function wholeMs(value: FlagValue | undefined): number | undefined {
  return value === undefined ? undefined : Math.ceil(value as number);
}

/** True for `host` and `[::1]` with no `:port` (`:5000` and `host:5000` have one). */
function missingPort(addr: string): boolean {
  if (addr.startsWith("[")) return !/\]:[^:]*$/.test(addr);
  return !addr.includes(":");
}

/** `:5000` (Go's "this host") → `127.0.0.1:5000`; a bare `host:port` gets the scheme the TLS flag asks for. */
function normalizeAddress(addr: string, tls: boolean): string {
  const withHost = addr.startsWith(":") ? `127.0.0.1${addr}` : addr;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(withHost)) return withHost;
  return `${tls ? "https" : "http"}://${withHost}`;
}

function tlsFromFlags(
  values: Readonly<Record<string, FlagValue>>,
  addr: string,
): ClientTlsOptions | undefined {
  const on = values["tls"] === true || addr.startsWith("https://");
  const noVerify = values["tls-no-verify"] === true;
  const caCert = values["tls-ca-cert"] as string | undefined;
  const clientCert = values["tls-client-cert"] as string | undefined;
  const clientKey = values["tls-client-key"] as string | undefined;
  const serverName = values["tls-server-name"] as string | undefined;
  if (!on && noVerify) throw new FlagError("specified -tls-no-verify without specifying -tls");
  if (!on && caCert !== undefined) throw new FlagError("specified -tls-ca-cert without specifying -tls");
  if (!on && clientCert !== undefined)
    throw new FlagError("specified -tls-client-cert without specifying -tls");
  if (!on && serverName !== undefined)
    throw new FlagError("specified -tls-server-name without specifying -tls");
  if (clientCert !== undefined && clientKey === undefined) {
    throw new FlagError("specified -tls-client-cert without specifying -tls-client-key");
  }
  if (clientCert === undefined && clientKey !== undefined) {
    throw new FlagError("specified -tls-client-key without specifying -tls-client-cert");
  }
  if (noVerify && caCert !== undefined) {
    throw new FlagError("cannot specify -tls-ca-cert with -tls-no-verify (CA cert would not be used)");
  }
  if (noVerify && serverName !== undefined) {
    throw new FlagError(
      "cannot specify -tls-server-name with -tls-no-verify (server name would not be used)",
    );
  }
  if (!on) return undefined;
  try {
    return {
      ca: caCert === undefined ? undefined : readFileSync(caCert),
      cert: clientCert === undefined ? undefined : readFileSync(clientCert),
      key: clientKey === undefined ? undefined : readFileSync(clientKey),
      servername: serverName,
      insecureSkipVerify: noVerify,
    };
  } catch (error) {
    throw new FlagError(`failed to initialize tls credentials. error=${(error as Error).message}`);
  }
}

/**
 * Opens the connection within the connect timeout; on failure prints grpc_health_probe's message
 * and returns exit code 2, else undefined.
 */
async function connectOrReport(setup: ClientSetup, io: CommandIo): Promise<number | undefined> {
  const started = Date.now();
  if (setup.verbose) io.stderr.write("establishing connection\n");
  try {
    await setup.client.connect();
  } catch (error) {
    const err = RpcError.from(error);
    if (setup.json) writeJson(io, { addr: setup.addr, service: setup.service, error: errorJson(err) });
    if (connectFailureKind(err) === "timeout") {
      io.stderr.write(
        `timeout: failed to connect service ${JSON.stringify(setup.addr)} within ${formatDuration(setup.connectTimeoutMs)}\n`,
      );
    } else {
      io.stderr.write(
        `error: failed to connect service at ${JSON.stringify(setup.addr)}: ${causeText(err)}${connectHint(err, setup)}\n`,
      );
    }
    return ExitCode.ConnectionFailure;
  }
  if (setup.verbose)
    io.stderr.write(`connection established (took ${formatDuration(Date.now() - started)})\n`);
  return undefined;
}

/** Prints an RPC failure as grpc_health_probe does and returns its exit code (3, or 2 for a lost connection). */
function reportRpcError(error: unknown, setup: ClientSetup, io: CommandIo, what: string): number {
  const err = RpcError.from(error);
  if (setup.json) writeJson(io, { addr: setup.addr, service: setup.service, error: errorJson(err) });
  if (connectFailureKind(err) !== undefined) {
    io.stderr.write(
      `error: failed to connect service at ${JSON.stringify(setup.addr)}: ${causeText(err)}${connectHint(err, setup)}\n`,
    );
    return ExitCode.ConnectionFailure;
  }
  if (err.code === Code.Unimplemented) {
    // As grpc_health_probe v0.4.x (main.go: "...(grpc.health.v1.Health): %s" with the status message).
    io.stderr.write(
      `error: this server does not implement the grpc health protocol (grpc.health.v1.Health): ${err.rawMessage}\n`,
    );
  } else if (err.code === Code.DeadlineExceeded && setup.rpcTimeoutMs !== undefined) {
    io.stderr.write(`timeout: ${what} did not complete within ${formatDuration(setup.rpcTimeoutMs)}\n`);
  } else {
    io.stderr.write(`error: ${what} failed: ${err.message}${failureHint(err, setup)}\n`);
  }
  return ExitCode.RpcFailure;
}

/**
 * What to do about failures whose wire words say little: an HTTP/1.1-only server answers a gRPC call with
 * an HTTP/2 protocol error; a TLS port, or a server that went away, resets the stream (CANCEL).
 */
function failureHint(error: RpcError, setup: ClientSetup): string {
  const tlsHint = setup.tls ? "" : "; a TLS port takes -tls";
  if (error.code === Code.Internal && /protocol error/i.test(error.rawMessage)) {
    return ` (the server does not speak HTTP/2 here: an HTTP/1.1-only server takes --protocol triple --http1${tlsHint})`;
  }
  if (error.code === Code.Canceled) {
    return ` (the server reset the call or closed the connection: is it still up?${tlsHint})`;
  }
  return "";
}

/**
 * What to do about a connection that opened but never became HTTP/2: an HTTP/1.1-only server answers the
 * preface with an HTTP/1.1 error (node: ERR_HTTP2_ERROR), a TLS port closes a plaintext connection.
 */
function connectHint(error: RpcError, setup: ClientSetup): string {
  const text = causeText(error);
  const tlsHint = setup.tls ? "" : "; a TLS port takes -tls";
  if (/ERR_HTTP2_ERROR|protocol error/i.test(text))
    return ` (the server does not speak HTTP/2 here: an HTTP/1.1-only server takes --protocol triple --http1${tlsHint})`;
  if (/connection closed|ECONNRESET|socket hang up/i.test(text))
    return ` (the server closed the connection before speaking HTTP/2: is it an HTTP/2 port?${tlsHint})`;
  return "";
}

/** An RpcError as the `-json` output shows it: the code's name and the server's own message. @internal */
export function errorJson(error: RpcError): { code: string; message: string } {
  return { code: grpcCodeName(error.code), message: error.rawMessage };
}

/** Writes one line of `-json` output. @internal */
export function writeJson(io: CommandIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value)}\n`);
}

function causeText(error: RpcError): string {
  const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
  if (cause !== undefined && typeof cause.message === "string") {
    return typeof cause.code === "string" && !cause.message.includes(cause.code)
      ? `${cause.code}: ${cause.message}`
      : cause.message;
  }
  return error.rawMessage;
}

/**
 * What every client command does around its call: build the client from the flags (FlagError, exit 1, on
 * a bad one), connect within the connect timeout (exit 2), run `body`, print a failure of its call as
 * grpc_health_probe does (exit 3, or 2 for a lost connection), and close the client whatever happens.
 * @internal
 */
export async function withClient(
  context: CommandContext,
  call: { rpcTimeoutMs: number | undefined; what: string },
  body: (setup: ClientSetup) => Promise<number>,
): Promise<number> {
  const { io } = context;
  const setup = setupClient(
    context.values,
    context.positionals,
    io,
    call,
    context.values["http1"] === true ? await withHttp1() : http2Only,
  );
  try {
    const connectFailed = await connectOrReport(setup, io);
    if (connectFailed !== undefined) return connectFailed;
    try {
      return await body(setup);
    } catch (error) {
      return reportRpcError(error, setup, io, call.what);
    }
  } finally {
    await setup.client.close();
  }
}
