// `triple-health decode`: captured bytes → envelopes, flags and messages as JSON (or annotated hex).
import { createReadStream, existsSync } from "node:fs";
import { readAll } from "../../wire/read-all.ts";
import { type Command, CommandError, ExitCode, runner } from "../command.ts";
import {
  annotate,
  type DecodeResult,
  decodeBytes,
  detectFormat,
  type Framing,
  type InputFormat,
  loadTypes,
  type MessageTypes,
  toBytes,
} from "../envelope-dump.ts";
import { FlagError } from "../flags.ts";

// Room for a 4 MiB message (gRPC's default limit) written as spaced hex, three characters a byte.
const defaultMaxInputBytes = 16 * 1024 * 1024;

/** `triple-health decode`: reads a capture (file or stdin, size-limited) and prints what it holds. @internal */
export const command: Command = {
  name: "decode",
  usage: `usage: triple-health decode [flags] [file|-]

Reads a captured body (file or stdin; hex with optional # comments, base64, or raw bytes), splits it into
envelopes, names the flags (compressed, end-stream, trailers), decodes the messages and prints JSON.
gRPC-Web trailer frames and triple/Connect end-stream JSON are shown as such; gzip payloads are inflated.
Exit codes: 0 decoded, 1 invalid arguments, or input that cannot be read or decoded (what could be is printed).
`,
  flags: {
    format: {
      kind: "string",
      hint: "auto|hex|base64|raw",
      choices: ["auto", "hex", "base64", "raw"],
      description: "input encoding (default auto: hex, else base64, else raw bytes)",
    },
    framing: {
      kind: "string",
      hint: "auto|envelopes|unary",
      choices: ["auto", "envelopes", "unary"],
      description: "envelopes (gRPC, gRPC-Web, triple streaming) or one unary body (default auto)",
    },
    proto: { kind: "list", hint: "file", description: ".proto file declaring the message type; repeatable" },
    type: {
      kind: "string",
      hint: "name",
      description: "fully-qualified message type (default: grpc.health.v1 messages, guessed)",
    },
    annotate: { kind: "bool", description: "print annotated hex instead of JSON" },
    "max-input-bytes": {
      kind: "int",
      hint: "n",
      description: `largest input read, in bytes (default ${defaultMaxInputBytes}, 16 MiB)`,
    },
  },
  async run({ io, values, positionals }) {
    if (positionals.length > 1) throw new FlagError("decode reads one file (or stdin)");
    const protoFiles = (values["proto"] as string[] | undefined) ?? [];
    const typeName = values["type"] as string | undefined;
    if (protoFiles.length > 0 && typeName === undefined) throw new FlagError("--proto needs --type");
    // Checked before the input is read, and so that the error names the flag (the loader's is a bare ENOENT).
    for (const file of protoFiles) {
      if (!existsSync(file)) throw new FlagError(`--proto ${JSON.stringify(file)}: no such file`);
    }
    const maxInputBytes = (values["max-input-bytes"] as number | undefined) ?? defaultMaxInputBytes;
    let input: Buffer;
    try {
      const file = positionals[0];
      // A file too: it may be a pipe or a device that never ends.
      const source = file === undefined || file === "-" ? io.stdin : createReadStream(file);
      input = await readAll(
        source as AsyncIterable<Buffer | string>,
        maxInputBytes,
        () =>
          new Error(
            `input is larger than the limit of ${maxInputBytes} bytes (raise it with --max-input-bytes)`,
          ),
      );
    } catch (error) {
      throw new CommandError(ExitCode.InvalidArguments, `cannot read input: ${(error as Error).message}`);
    }
    let decoded: Decoded;
    try {
      const types = loadTypes(protoFiles, typeName);
      const requested = (values["format"] as InputFormat | "auto" | undefined) ?? "auto";
      const framing = (values["framing"] as Framing | "auto" | undefined) ?? "auto";
      decoded = decodeInput(input, requested, framing, types);
    } catch (error) {
      throw new CommandError(ExitCode.InvalidArguments, (error as Error).message);
    }
    const { bytes, result } = decoded;
    if (values["annotate"] === true) io.stdout.write(annotate(bytes, result));
    else io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    const failed = result.messages.find((message) => message.error !== undefined);
    if (failed === undefined) return ExitCode.Ok;
    io.stderr.write(`error: the message at byte ${failed.offset} cannot be decoded: ${failed.error}\n`);
    return ExitCode.InvalidArguments;
  },
};

/** @internal */
export const run = runner(command);

interface Decoded {
  bytes: Buffer;
  result: DecodeResult;
}

/**
 * Reads `input` as `requested` (or the format it looks like) and decodes it. Text made only of base64's
 * letters may as well be raw bytes (a protobuf message of short strings is): when it decodes as base64
 * with errors and as raw bytes without, it is raw.
 */
function decodeInput(
  input: Buffer,
  requested: InputFormat | "auto",
  framing: Framing | "auto",
  types: MessageTypes,
): Decoded {
  const format = requested === "auto" ? detectFormat(input) : requested;
  let first: Decoded | Error;
  try {
    first = decodeAs(input, format, framing, types);
  } catch (error) {
    first = error as Error;
  }
  if (requested === "auto" && format === "base64" && (first instanceof Error || !clean(first.result))) {
    try {
      const raw = decodeAs(input, "raw", framing, types);
      if (clean(raw.result)) return raw;
    } catch {
      // Not raw bytes either: report what base64 gave.
    }
  }
  if (first instanceof Error) throw first;
  return first;
}

function decodeAs(
  input: Buffer,
  format: InputFormat,
  framing: Framing | "auto",
  types: MessageTypes,
): Decoded {
  const bytes = toBytes(input, format);
  const chosen = framingOf(bytes, framing);
  try {
    return { bytes, result: { format, ...decodeBytes(bytes, chosen, types) } };
  } catch (error) {
    if (chosen === framing) throw error;
    const flags = `0x${bytes[0]!.toString(16).padStart(2, "0")}`;
    throw new Error(
      `${(error as Error).message}: it starts with envelope flags ${flags}, which no unary body can, so an envelope is truncated or garbled`,
    );
  }
}

function clean(result: DecodeResult): boolean {
  return result.messages.every(
    (message) => message.error === undefined && !message.fields?.some((field) => field.wireType < 0),
  );
}

/**
 * `auto` framing reads bytes that fail to split into envelopes as one unary body. Bytes whose first tag
 * has field number 0 are no protobuf message (nor JSON): when they also start with an envelope's flags,
 * they are envelopes, and a truncated one is an error rather than a unary body.
 */
function framingOf(bytes: Buffer, framing: Framing | "auto"): Framing | "auto" {
  if (framing !== "auto" || bytes.length === 0) return framing;
  const flags = bytes[0]!;
  const knownFlags = (flags & ~0x83) === 0; // compressed 0x01, end-stream 0x02, trailers 0x80
  const fieldZero = flags < 0x80 || bytes[1] === 0 || bytes.length === 1;
  return knownFlags && fieldZero ? "envelopes" : "auto";
}
