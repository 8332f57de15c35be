// HealthCheckRequest and HealthCheckResponse written and read by hand, binary and proto3 JSON. A probe
// (`triple-health check`, run every few seconds in every pod) sends one and reads one: loading protobufjs
// and parsing health.proto for that cost more CPU than starting node itself. These two messages have one
// field each, so their encoding is a few bytes of rules; test/codec/health-check-codec.test.ts holds them
// to protobufjs's output (the codecs of health-codecs.ts) message for message.
import { Code } from "../wire/code.ts";
import { quotePeerText } from "../wire/peer-text.ts";
import { RpcError } from "../wire/rpc-error.ts";
import { type HealthCheckRequest, type HealthCheckResponse, ServingStatus } from "./health-types.ts";
import { parseJsonBody } from "./json-body.ts";
import type { CodecName, MessageCodec } from "./message-codec.ts";

const requestTypeName = "grpc.health.v1.HealthCheckRequest";
const responseTypeName = "grpc.health.v1.HealthCheckResponse";
// The enum's names by number, as the JSON mapping writes them.
const statusNames: readonly string[] = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

const wireVarint = 0;
const wireFixed64 = 1;
const wireLength = 2;
const wireStartGroup = 3;
const wireEndGroup = 4;
const wireFixed32 = 5;
// Field 1 as each message carries it: `service` (length-delimited), `status` (varint).
const serviceTag = (1 << 3) | wireLength;
const statusTag = (1 << 3) | wireVarint;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A message that cannot be read: every reading function throws it, the codec words it. */
class Malformed extends Error {}

// Where reading has got to: one module-level cursor (decoding is synchronous), as flat-json.ts does.
let at = 0;

/** A varint's low 32 bits, unsigned; the cursor moves past all of its (at most 10) bytes. */
function readVarint32(bytes: Uint8Array): number {
  let value = 0;
  for (let i = 0; i < 10; i++) {
    if (at >= bytes.length) throw new Malformed("truncated varint");
    const byte = bytes[at++]!;
    // Bits past the 32nd are dropped, as int32 and enum fields take them (a negative int32 is 10 bytes).
    if (i < 5) value |= (byte & 0x7f) << (7 * i);
    if (byte < 0x80) return value >>> 0;
  }
  throw new Malformed("varint longer than 10 bytes");
}

/**
 * A field's tag: a varint of at most 5 bytes holding 32 bits, with a field number above 0 (what protobufjs
 * and protobuf-go accept).
 */
function readTag(bytes: Uint8Array): number {
  const start = at;
  const tag = readVarint32(bytes);
  if (at - start > 5 || (at - start === 5 && bytes[at - 1]! > 0x0f))
    throw new Malformed("invalid tag encoding");
  if (tag >>> 3 === 0) throw new Malformed("illegal tag: field number 0");
  return tag;
}

/** A length prefix: at most 5 bytes, below 2^31. */
function readLength(bytes: Uint8Array): number {
  const start = at;
  const length = readVarint32(bytes);
  if (at - start > 5 || length > 0x7fff_ffff) throw new Malformed("invalid length encoding");
  if (at + length > bytes.length) throw new Malformed("truncated field");
  return length;
}

/** Moves the cursor past a field of an unknown number, whatever its wire type. */
function skipField(bytes: Uint8Array, wireType: number, fieldNumber: number): void {
  switch (wireType) {
    case wireVarint:
      readVarint32(bytes);
      return;
    case wireFixed64:
      skipBytes(bytes, 8);
      return;
    case wireLength: {
      const length = readLength(bytes);
      at += length;
      return;
    }
    case wireFixed32:
      skipBytes(bytes, 4);
      return;
    case wireStartGroup:
      for (;;) {
        if (at >= bytes.length) throw new Malformed("group without its end");
        const tag = readTag(bytes);
        if ((tag & 7) === wireEndGroup) {
          if (tag >>> 3 !== fieldNumber) throw new Malformed("invalid end group tag");
          return;
        }
        skipField(bytes, tag & 7, tag >>> 3);
      }
    default:
      throw new Malformed(`invalid wire type ${wireType}`);
  }
}

function skipBytes(bytes: Uint8Array, count: number): void {
  if (at + count > bytes.length) throw new Malformed("truncated field");
  at += count;
}

/** The bytes of field 1 of each message in `bytes` (the last one wins, as for any singular field). */
function readMessage(bytes: Uint8Array, wanted: number, read: (bytes: Uint8Array) => void): void {
  at = 0;
  while (at < bytes.length) {
    const tag = readTag(bytes);
    if (tag === wanted) read(bytes);
    else skipField(bytes, tag & 7, tag >>> 3);
  }
}

function varintLength(value: number): number {
  let length = 1;
  for (let rest = value >>> 7; rest !== 0; rest >>>= 7) length++;
  return length;
}

/** Writes `value` (an int32, negative ones as 10 bytes sign-extended) at `offset`; returns the next offset. */
function writeVarint(out: Uint8Array, offset: number, value: number): number {
  if (value < 0) {
    // Two's complement over 64 bits: the low 32 bits as they are, then all ones.
    let low = value >>> 0;
    for (let i = 0; i < 4; i++) {
      out[offset++] = (low & 0x7f) | 0x80;
      low >>>= 7;
    }
    out[offset++] = (low & 0x0f) | 0x70 | 0x80;
    for (let i = 0; i < 4; i++) out[offset++] = 0xff;
    out[offset++] = 0x01;
    return offset;
  }
  let rest = value >>> 0;
  while (rest > 0x7f) {
    out[offset++] = (rest & 0x7f) | 0x80;
    rest >>>= 7;
  }
  out[offset++] = rest;
  return offset;
}

function malformed(typeName: string, cause: unknown): RpcError {
  if (cause instanceof RpcError) return cause;
  const text = cause instanceof Error ? cause.message : String(cause);
  return new RpcError(Code.InvalidArgument, `cannot decode ${typeName}: ${text}`, { cause });
}

function jsonProblem(typeName: string, problem: string): RpcError {
  return new RpcError(Code.InvalidArgument, `cannot decode ${typeName} from JSON: ${problem}`);
}

/** The one field of a JSON object, after checking there is no other; undefined when absent or null. */
function jsonField(typeName: string, value: unknown, field: string): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw jsonProblem(typeName, "message: object expected");
  }
  for (const key of Object.keys(value)) {
    if (key !== field) throw jsonProblem(typeName, `unknown field ${quotePeerText(key)}`);
  }
  const given = (value as Record<string, unknown>)[field];
  return given === null ? undefined : given;
}

function codecOf<T extends object>(
  typeName: string,
  parts: Pick<MessageCodec<T>, "encodeBinary" | "decodeBinary" | "encodeJson" | "decodeJson">,
): MessageCodec<T> {
  return {
    typeName,
    ...parts,
    encode: (message: T, name: CodecName) =>
      name === "json" ? parts.encodeJson(message) : parts.encodeBinary(message),
    decode: (bytes: Uint8Array, name: CodecName) =>
      name === "json" ? parts.decodeJson(bytes) : parts.decodeBinary(bytes),
  };
}

/** `grpc.health.v1.HealthCheckRequest` `{1: string service}`, binary and proto3 JSON. @internal */
export const checkRequestCodec: MessageCodec<HealthCheckRequest> = codecOf(requestTypeName, {
  encodeBinary(message) {
    const service = message.service ?? "";
    // proto3 leaves a field at its zero value out: the whole server (`""`) is an empty message.
    if (service === "") return new Uint8Array(0);
    const text = Buffer.from(service, "utf8");
    const out = Buffer.allocUnsafe(1 + varintLength(text.length) + text.length);
    out[0] = serviceTag;
    text.copy(out, writeVarint(out, 1, text.length));
    return out;
  },
  decodeBinary(bytes) {
    let service = "";
    try {
      readMessage(bytes, serviceTag, () => {
        const length = readLength(bytes);
        service = utf8.decode(bytes.subarray(at, at + length));
        at += length;
      });
    } catch (cause) {
      throw malformed(requestTypeName, cause);
    }
    return { service };
  },
  encodeJson(message) {
    const service = message.service ?? "";
    return Buffer.from(service === "" ? "{}" : `{"service":${JSON.stringify(service)}}`);
  },
  decodeJson(bytes) {
    const service = jsonField(requestTypeName, parseJsonBody(bytes, requestTypeName), "service") ?? "";
    if (typeof service !== "string") throw jsonProblem(requestTypeName, "service: string expected");
    return { service };
  },
});

/** `grpc.health.v1.HealthCheckResponse` `{1: ServingStatus status}`, binary and proto3 JSON. @internal */
export const checkResponseCodec: MessageCodec<HealthCheckResponse> = codecOf(responseTypeName, {
  encodeBinary(message) {
    const status = message.status ?? ServingStatus.Unknown;
    if (status === ServingStatus.Unknown) return new Uint8Array(0);
    const out = Buffer.allocUnsafe(1 + (status < 0 ? 10 : varintLength(status)));
    out[0] = statusTag;
    writeVarint(out, 1, status);
    return out;
  },
  decodeBinary(bytes) {
    let status = 0;
    try {
      readMessage(bytes, statusTag, () => {
        // An enum is an int32 on the wire: values outside ServingStatus are kept, as protobufjs keeps them.
        status = readVarint32(bytes) | 0;
      });
    } catch (cause) {
      throw malformed(responseTypeName, cause);
    }
    return { status };
  },
  encodeJson(message) {
    const status = message.status ?? ServingStatus.Unknown;
    if (status === ServingStatus.Unknown) return Buffer.from("{}");
    const name = statusNames[status];
    return Buffer.from(`{"status":${name === undefined ? String(status) : JSON.stringify(name)}}`);
  },
  decodeJson(bytes) {
    const status = jsonField(responseTypeName, parseJsonBody(bytes, responseTypeName), "status") ?? 0;
    // An enum in JSON is its name or its number; the name exactly as the proto spells it.
    if (typeof status === "number" && Number.isInteger(status)) return { status };
    const index = typeof status === "string" ? statusNames.indexOf(status) : -1;
    if (index < 0) throw jsonProblem(responseTypeName, "status: enum value expected");
    return { status: index };
  },
});
