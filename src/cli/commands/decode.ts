// `triple-health decode`: captured bytes → envelopes, flags and messages as JSON (or annotated hex).
import { createReadStream } from "node:fs";
import { readAll } from "../../wire/read-all.ts";
import {
  annotate,
  decodeBytes,
  detectFormat,
  type Framing,
  type InputFormat,
  loadTypes,
  toBytes,
} from "../envelope-dump.ts";
import { FlagError, type FlagSpecs, flagHelp, parseFlags } from "../flags.ts";
import type { CommandIo } from "../main.ts";

// Room for a 4 MiB message (gRPC's default limit) written as spaced hex, three characters a byte.
const defaultMaxInputBytes = 16 * 1024 * 1024;

const decodeFlags: FlagSpecs = {
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
};

const help = `usage: triple-health decode [flags] [file|-]

Reads a captured body (file or stdin; hex with optional # comments, base64, or raw bytes), splits it into
envelopes, names the flags (compressed, end-stream, trailers), decodes the messages and prints JSON.
gRPC-Web trailer frames and triple/Connect end-stream JSON are shown as such; gzip payloads are inflated.

flags:
${flagHelp(decodeFlags)}`;

/**
 * `triple-health decode`: reads a capture (file or stdin, size-limited) and prints what it holds.
 * @internal
 */
export async function run(args: string[], io: CommandIo): Promise<number> {
  let parsed: ReturnType<typeof parseFlags>;
  try {
    parsed = parseFlags(args, decodeFlags);
  } catch (error) {
    if (!(error instanceof FlagError)) throw error;
    io.stderr.write(`error: ${error.message}\n`);
    return 1;
  }
  if (parsed.help) {
    io.stdout.write(help);
    return 0;
  }
  const { values, positionals } = parsed;
  if (positionals.length > 1) {
    io.stderr.write("error: decode reads one file (or stdin)\n");
    return 1;
  }
  const protoFiles = (values["proto"] as string[] | undefined) ?? [];
  const typeName = values["type"] as string | undefined;
  if (protoFiles.length > 0 && typeName === undefined) {
    io.stderr.write("error: --proto needs --type\n");
    return 1;
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
    io.stderr.write(`error: cannot read input: ${(error as Error).message}\n`);
    return 1;
  }
  try {
    const types = loadTypes(protoFiles, typeName);
    const requested = (values["format"] as string | undefined) ?? "auto";
    const format: InputFormat = requested === "auto" ? detectFormat(input) : (requested as InputFormat);
    const bytes = toBytes(input, format);
    const framing = ((values["framing"] as string | undefined) ?? "auto") as Framing | "auto";
    const result = decodeBytes(bytes, framing, types);
    if (values["annotate"] === true) io.stdout.write(annotate(bytes, result));
    else io.stdout.write(`${JSON.stringify({ format, ...result }, null, 2)}\n`);
    return 0;
  } catch (error) {
    io.stderr.write(`error: ${(error as Error).message}\n`);
    return 1;
  }
}
