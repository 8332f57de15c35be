// The decoding behind `triple-health decode`: bytes → envelopes (or one unary body) → named flags and
// decoded messages. Pure functions, so captures can be checked byte by byte in tests.
import zlib from "node:zlib";
import protobuf from "protobufjs";
import { protoJsonOptions } from "../codec/message-codec.ts";
import { loadProtoFiles } from "../codec/proto-files.ts";
import { decodeTrailerLines } from "../protocol/grpc-web.ts";
import type { IncomingHeaders } from "../protocol/request-head.ts";
// The wire layer's own decoder and flag names: the dump must split and name exactly as the server and client do.
import {
  type Envelope,
  EnvelopeDecoder,
  EnvelopeFlag,
  envelopeFlagNames,
  envelopeHeaderBytes,
} from "../wire/envelope.ts";
import { RpcError } from "../wire/rpc-error.ts";

/** How a capture is written down. @internal */
export type InputFormat = "hex" | "base64" | "raw";
/** How a body is cut into messages: length-prefixed envelopes, or one unary body. @internal */
export type Framing = "envelopes" | "unary";

/** One envelope (or the unary body) as `decode` reports it. @internal */
export interface DecodedMessage {
  /** Byte offset of the envelope (or of the body) in the input. */
  offset: number;
  /** Envelope flags as `0x00`; absent for a unary body. */
  flags?: string;
  flagNames?: string[];
  length: number;
  codec?: "proto" | "json";
  type?: string;
  message?: unknown;
  /** gRPC-Web trailers (flag 0x80); a repeated name's values as an array. */
  trailers?: IncomingHeaders;
  /** triple/Connect end-stream message (flag 0x02). */
  endStream?: unknown;
  /** Raw fields, when no message type fits. */
  fields?: RawField[];
  error?: string;
  /** gzip-compressed payload: the size once inflated. */
  decompressedLength?: number;
}

/** One field of a message no known type fits. @internal */
export interface RawField {
  field: number;
  wireType: number;
  value: string | number;
}

/** What `decode` prints as JSON. @internal */
export interface DecodeResult {
  format: InputFormat;
  framing: Framing;
  bytes: number;
  messages: DecodedMessage[];
}

/** Strips `#` comments (to the end of a line) from a hex capture. */
function stripComments(text: string): string {
  return text.replace(/#[^\n]*/g, "");
}

/**
 * Guesses the input format: hex (with optional spaces, colons, `0x` and `#` comments), base64, else raw.
 * @internal
 */
export function detectFormat(input: Buffer): InputFormat {
  const text = input.toString("latin1");
  const hex = stripComments(text).replace(/0x/gi, "").replace(/[\s:]/g, "");
  if (hex.length > 0 && hex.length % 2 === 0 && /^[0-9a-fA-F]+$/.test(hex)) return "hex";
  // A capture of an empty body: nothing but comments.
  if (hex.length === 0 && text.includes("#")) return "hex";
  const b64 = text.replace(/\s/g, "");
  if (b64.length > 0 && b64.length % 4 === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return "base64";
  return "raw";
}

/** The captured bytes, from their written form; throws on text that is not valid `format`. @internal */
export function toBytes(input: Buffer, format: InputFormat): Buffer {
  const text = input.toString("latin1");
  switch (format) {
    case "hex": {
      const hex = stripComments(text).replace(/0x/gi, "").replace(/[\s:]/g, "");
      if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new Error("input is not valid hex");
      return Buffer.from(hex, "hex");
    }
    case "base64": {
      const b64 = text.replace(/\s/g, "");
      if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(b64)) throw new Error("input is not valid base64");
      return Buffer.from(b64, "base64");
    }
    default:
      return input;
  }
}

/** An envelope of the input and where it starts. @internal */
export interface RawEnvelope extends Envelope {
  offset: number;
}

/**
 * Splits bytes into envelopes when they are exactly a sequence of well-formed ones; else undefined.
 * @internal
 */
export function splitEnvelopes(bytes: Buffer): RawEnvelope[] | undefined {
  // A capture is all there is: no envelope in it can be longer than the capture itself.
  const decoder = new EnvelopeDecoder({ maxMessageBytes: bytes.length });
  decoder.push(bytes);
  const out: RawEnvelope[] = [];
  let offset = 0;
  try {
    for (let envelope = decoder.next(); envelope !== undefined; envelope = decoder.next()) {
      out.push({ offset, flags: envelope.flags, payload: envelope.payload });
      offset += envelopeHeaderBytes + envelope.payload.length;
    }
    decoder.end();
  } catch (error) {
    // Unknown flag bits, a length past the end, a truncated header: not envelopes, maybe a unary body.
    if (error instanceof RpcError) return undefined;
    throw error;
  }
  return out.length > 0 ? out : undefined;
}

/**
 * Options of the message decoding: an explicit message type (from `root`), or health auto-detection.
 * @internal
 */
export interface MessageTypes {
  root: protobuf.Root;
  type?: protobuf.Type;
}

let builtinRoot: protobuf.Root | undefined;

/** health.proto and greet.proto, plus any `--proto` files. @internal */
export function loadTypes(protoFiles: readonly string[], typeName: string | undefined): MessageTypes {
  builtinRoot ??= loadProtoFiles("health.proto", "greet.proto");
  const root = protoFiles.length === 0 ? builtinRoot : protobuf.loadSync(protoFiles.map((f) => f));
  if (typeName === undefined) return { root };
  const name = typeName.replace(/^\./, "");
  const type = root.lookupType(name);
  return { root, type };
}

/**
 * Splits a capture (envelopes when it is a sequence of them, else one unary body, unless `framing`
 * says which) and decodes each message. @internal
 */
export function decodeBytes(
  bytes: Buffer,
  framing: Framing | "auto",
  types: MessageTypes,
): Omit<DecodeResult, "format"> {
  const envelopes = framing === "unary" ? undefined : splitEnvelopes(bytes);
  if (framing === "envelopes" && envelopes === undefined) {
    throw new Error("input is not a sequence of complete envelopes ([flags:1][length:4][payload])");
  }
  if (envelopes === undefined) {
    // An empty body (a gRPC Trailers-Only response) holds no message unless asked to read one.
    if (bytes.length === 0 && framing === "auto") return { framing: "unary", bytes: 0, messages: [] };
    return { framing: "unary", bytes: bytes.length, messages: [decodeMessage(0, bytes, undefined, types)] };
  }
  return {
    framing: "envelopes",
    bytes: bytes.length,
    messages: envelopes.map((envelope) =>
      decodeMessage(envelope.offset, envelope.payload, envelope.flags, types),
    ),
  };
}

/**
 * One envelope's payload (`flags` given) or a unary body (`flags` undefined) as `decode` and `tap` show it:
 * inflated, then read as trailers, end-stream, JSON or a protobuf message (of `types.type`, else a
 * guessed health message, else raw fields).
 * @internal
 */
export function decodeMessage(
  offset: number,
  payload: Buffer,
  flags: number | undefined,
  types: MessageTypes,
): DecodedMessage {
  const out: DecodedMessage = { offset, length: payload.length };
  if (flags !== undefined) {
    out.flags = `0x${flags.toString(16).padStart(2, "0")}`;
    out.flagNames = envelopeFlagNames(flags);
  }
  let body = payload;
  if (flags !== undefined && (flags & EnvelopeFlag.Compressed) !== 0) {
    try {
      body = zlib.gunzipSync(payload, { maxOutputLength: 64 * 1024 * 1024 });
      out.decompressedLength = body.length;
    } catch (error) {
      out.error = `compressed payload is not gzip: ${(error as Error).message}`;
      return out;
    }
  }
  if (flags !== undefined && (flags & EnvelopeFlag.Trailers) !== 0) {
    out.trailers = decodeTrailerLines(body);
    return out;
  }
  if (flags !== undefined && (flags & EnvelopeFlag.EndStream) !== 0) {
    try {
      out.endStream = JSON.parse(body.toString("utf8"));
    } catch {
      out.error = "end-stream payload is not JSON";
    }
    return out;
  }
  const json = parseJsonObject(body);
  if (json !== undefined) {
    out.codec = "json";
    if (types.type !== undefined) out.type = types.type.fullName.replace(/^\./, "");
    out.message = json;
    return out;
  }
  out.codec = "proto";
  if (types.type !== undefined) {
    out.type = types.type.fullName.replace(/^\./, "");
    try {
      out.message = types.type.toObject(types.type.decode(body), protoJsonOptions);
    } catch (error) {
      out.error = `not a ${out.type}: ${(error as Error).message}`;
      out.fields = rawFields(body);
    }
    return out;
  }
  const guess = guessHealthMessage(body, types.root);
  if (guess !== undefined) {
    out.type = guess.type;
    out.message = guess.message;
  } else {
    out.fields = rawFields(body);
  }
  return out;
}

function parseJsonObject(body: Buffer): unknown {
  const first = body.findIndex((b) => b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09);
  if (first < 0 || body[first] !== 0x7b /* { */) return undefined;
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    return undefined;
  }
}

const printable = /^[\x20-\x7e\u00a0-\uffff]*$/;

/**
 * Tells the grpc.health.v1 messages apart by their wire shape: field 1 as a varint is a
 * HealthCheckResponse; field 1 as text is a HealthCheckRequest; field 1 as map entries is a HealthListResponse.
 * @internal
 */
export function guessHealthMessage(
  body: Buffer,
  root: protobuf.Root,
): { type: string; message: unknown } | undefined {
  const lookup = (name: string) => root.lookupType(`grpc.health.v1.${name}`);
  if (body.length === 0)
    return {
      type: "grpc.health.v1.HealthCheckRequest|HealthCheckResponse|HealthListRequest (empty)",
      message: {},
    };
  const tryType = (name: string, accept: (object: Record<string, unknown>) => boolean) => {
    const type = lookup(name);
    try {
      const message = type.decode(body);
      const object = type.toObject(message, protoJsonOptions) as Record<string, unknown>;
      // Fields the type does not know end up nowhere: re-encoding must give the same bytes.
      if (Buffer.compare(Buffer.from(type.encode(message).finish()), body) !== 0) return undefined;
      return accept(object) ? { type: `grpc.health.v1.${name}`, message: object } : undefined;
    } catch {
      return undefined;
    }
  };
  if (body[0] === 0x08) return tryType("HealthCheckResponse", () => true);
  if (body[0] === 0x0a) {
    return (
      tryType(
        "HealthCheckRequest",
        (o) => typeof o["service"] === "string" && printable.test(o["service"] as string),
      ) ?? tryType("HealthListResponse", () => true)
    );
  }
  return undefined;
}

/**
 * The fields of an unknown message: number, wire type, and the value (varint, hex of bytes, fixed).
 * @internal
 */
export function rawFields(body: Buffer): RawField[] {
  const reader = protobuf.Reader.create(body);
  const out: RawField[] = [];
  try {
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      const field = tag >>> 3;
      const wireType = tag & 7;
      if (field === 0) throw new Error("field number 0");
      let value: string | number;
      switch (wireType) {
        case 0:
          value = reader.uint64().toString();
          break;
        case 1:
          value = Buffer.from(body.subarray(reader.pos, reader.pos + 8)).toString("hex");
          reader.skip(8);
          break;
        case 2: {
          const bytes = reader.bytes();
          value = Buffer.from(bytes).toString("hex");
          break;
        }
        case 5:
          value = reader.fixed32();
          break;
        default:
          throw new Error(`wire type ${wireType}`);
      }
      out.push({ field, wireType, value });
    }
  } catch (error) {
    out.push({
      field: 0,
      wireType: -1,
      value: `unreadable from byte ${reader.pos}: ${(error as Error).message}`,
    });
  }
  return out;
}

function hexLines(bytes: Buffer, indent: string): string[] {
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 16) {
    lines.push(indent + [...bytes.subarray(i, i + 16)].map((b) => b.toString(16).padStart(2, "0")).join(" "));
  }
  return lines;
}

function describe(message: DecodedMessage): string {
  if (message.trailers !== undefined) return `gRPC-Web trailers ${JSON.stringify(message.trailers)}`;
  if (message.endStream !== undefined) return `end-stream ${JSON.stringify(message.endStream)}`;
  if (message.error !== undefined) return `(${message.error})`;
  const what = message.type ?? (message.codec === "json" ? "JSON message" : "message");
  const value =
    message.message !== undefined ? JSON.stringify(message.message) : JSON.stringify(message.fields);
  return `${what} ${value}`;
}

/**
 * Annotated hex, one byte group per line with what it means: the form docs/wire.md shows.
 * @internal
 */
export function annotate(bytes: Buffer, result: Omit<DecodeResult, "format">): string {
  const column = 52;
  const pad = (text: string) => (text.length >= column ? `${text}  ` : text.padEnd(column));
  const lines: string[] = [];
  for (const message of result.messages) {
    if (message.flags !== undefined) {
      const flagText = message.flagNames?.length ? message.flagNames.join(" | ") : "message";
      lines.push(`${pad(message.flags.slice(2))}# flags ${message.flags}: ${flagText}`);
      const length = bytes.subarray(message.offset + 1, message.offset + envelopeHeaderBytes);
      lines.push(`${pad(hexLines(length, "")[0]!)}# length ${message.length}`);
      const start = message.offset + envelopeHeaderBytes;
      const payload = bytes.subarray(start, start + message.length);
      const hex = hexLines(payload, "");
      if (hex.length === 0) lines.push(`${pad("")}# (empty payload) ${describe(message)}`);
      for (const [i, line] of hex.entries())
        lines.push(i === 0 ? `${pad(line)}# ${describe(message)}` : line);
    } else {
      const hex = hexLines(bytes, "");
      if (hex.length === 0) lines.push(`${pad("")}# (empty body) ${describe(message)}`);
      for (const [i, line] of hex.entries()) {
        lines.push(i === 0 ? `${pad(line)}# unary body: ${describe(message)}` : line);
      }
    }
  }
  if (lines.length === 0) lines.push("# (empty body)");
  return lines.join("\n") + "\n";
}
