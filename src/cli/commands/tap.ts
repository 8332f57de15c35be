// `triple-health tap`: a pass-through to one upstream that prints every call as it happens.
import type protobuf from "protobufjs";
import { createTripleTap, type TripleTap } from "../../host/triple-tap.ts";
import { CallRecorder, loadTapTypes, type RecorderSink } from "../call-recorder.ts";
import { type Command, linePrefix, rejectPositionals, runner } from "../command.ts";
import { FlagError, type FlagSpecs } from "../flags.ts";
import { listenOrFail, serveUntilStopped } from "../stop-signals.ts";
import { parseListen } from "./proxy.ts";

const tapFlags: FlagSpecs = {
  listen: {
    kind: "string",
    hint: "host:port",
    description: "address to listen on (default 127.0.0.1:20002; port 0 picks one)",
  },
  upstream: { kind: "string", hint: "url", description: "the server every call goes to (required)" },
  json: {
    kind: "bool",
    description:
      "one JSON line per finished call (and one per message of a server-streaming call) instead of text",
  },
  proto: {
    kind: "list",
    hint: "file",
    description: ".proto file whose services' messages to decode (repeatable; health and greet are built in)",
  },
  type: {
    kind: "string",
    hint: "name",
    description: "message type for calls of methods no loaded .proto declares",
  },
  grace: { kind: "duration", description: "how long calls in flight may finish on shutdown (default 5s)" },
};

/** Text lines, each call's parts as they pass. */
function textSink(out: NodeJS.WritableStream): RecorderSink {
  return { line: (text) => out.write(`${text}\n`), message() {}, call() {} };
}

/** JSON lines: a message event per message of a server-streaming call, the call once it is over. */
function jsonSink(out: NodeJS.WritableStream): RecorderSink {
  return {
    line() {},
    message(id, direction, value, streaming) {
      if (streaming) out.write(`${JSON.stringify({ event: "message", id, direction, message: value })}\n`);
    },
    call(call) {
      out.write(`${JSON.stringify({ event: "call", ...call })}\n`);
    },
  };
}

/** `triple-health tap`: forwards and prints until SIGINT/SIGTERM, then closes gracefully. @internal */
export const command: Command = {
  name: "tap",
  host: true,
  usage: `usage: triple-health tap -upstream url [-listen host:port] [-json] [-proto file -type name]

Forwards every call (gRPC, gRPC-Web, triple and Connect; h2c and HTTP/1.1 in, HTTP/2 to the upstream) with its
bytes, headers and trailers untouched, and prints each call as it passes: method, path, protocol, HTTP version,
request and response headers, every message decoded to JSON with its envelope flags (grpc.health.v1 and
greet types built in; -proto for others), trailers, the status in the call's protocol and the duration.
Runs until SIGINT or SIGTERM, then closes gracefully (exit 0). Exit codes: 1 invalid arguments,
2 cannot listen.
`,
  flags: tapFlags,
  async run({ io, values, positionals }) {
    rejectPositionals(positionals);
    const upstream = ((values["upstream"] as string | undefined) ?? "").trim();
    if (upstream === "") throw new FlagError("-upstream is required");
    const listen = parseListen((values["listen"] as string | undefined) ?? "127.0.0.1:20002");
    const graceMs = (values["grace"] as number | undefined) ?? 5000;
    let root: protobuf.Root;
    let fallbackType: protobuf.Type | undefined;
    try {
      root = loadTapTypes((values["proto"] as string[] | undefined) ?? []);
      const typeName = values["type"] as string | undefined;
      if (typeName !== undefined) fallbackType = root.lookupType(typeName.replace(/^\./, ""));
    } catch (error) {
      throw new FlagError((error as Error).message);
    }
    const sink = values["json"] === true ? jsonSink(io.stdout) : textSink(io.stdout);
    let calls = 0;
    let tap: TripleTap;
    try {
      tap = createTripleTap({
        upstream,
        observe: (head) => new CallRecorder(++calls, head, { root, fallbackType, sink }),
      });
    } catch (error) {
      throw new FlagError((error as Error).message);
    }
    const { host, port } = await listenOrFail(tap, listen);
    // stdout carries the calls (JSON lines with -json); what the tap says of itself goes to stderr.
    io.stderr.write(`triple-health tap on http://${host}:${port} (h2c, HTTP/1.1) → ${upstream}\n`);
    return serveUntilStopped(tap, { ...io, stdout: io.stderr }, { prefix: linePrefix(command), graceMs });
  },
};

/** @internal */
export const run = runner(command);
