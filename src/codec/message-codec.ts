import type protobuf from "protobufjs";
import { Code } from "../wire/code.ts";
import { RpcError } from "../wire/rpc-error.ts";
import { flatJsonReader } from "./flat-json.ts";
import { parseJsonBody } from "./json-body.ts";
import { omitJsonDefaults } from "./json-defaults.ts";
import { isFlatMessage, jsonFieldIndex, jsonShapeProblem, readFlatJson } from "./json-shape.ts";

/** The two codecs every protocol here negotiates: `+proto` (or none) and `+json`. */
export type CodecName = "proto" | "json";

/**
 * Serializes one protobuf message type in binary and in the proto3 JSON mapping.
 * Decoding failures throw `RpcError` with INVALID_ARGUMENT; a protocol that names another code
 * for a bad request body (gRPC says INTERNAL) rewrites it.
 */
export interface MessageCodec<T extends object = Record<string, unknown>> {
  readonly typeName: string;
  encode(message: T, codec: CodecName): Uint8Array;
  decode(bytes: Uint8Array, codec: CodecName): T;
  encodeBinary(message: T): Uint8Array;
  decodeBinary(bytes: Uint8Array): T;
  encodeJson(message: T): Uint8Array;
  decodeJson(bytes: Uint8Array): T;
}

/**
 * The `toObject` options of proto3 JSON as written here (the codec, then `omitJsonDefaults`; the CLI's
 * `decode`): enums by name, 64-bit integers as strings, bytes as base64, NaN and infinities as strings.
 * @internal
 */
export const protoJsonOptions: protobuf.IConversionOptions = {
  enums: String,
  longs: String,
  bytes: String,
  defaults: true,
  json: true,
};

// What a JSON body decodes to: 64-bit integers stay the decimal strings proto3 JSON carries them as
// (a protobufjs Long would not survive the next JSON.stringify), everything else as protobufjs gives it.
const jsonDecoded: protobuf.IConversionOptions = { defaults: true, longs: String };

/**
 * The codec of one protobufjs message type: binary protobuf, and the proto3 JSON mapping with the
 * shape checks protobufjs leaves out. Bodies of flat types (scalars and enums only) are read straight
 * from the bytes.
 *
 * JSON follows protojson with its default options, what dubbo-go's and connect-go's JSON codecs use:
 * written with fields at their zero value left out (`{}` for a HealthCheckResponse of UNKNOWN) under
 * protobufjs's field names (the JSON names, unless the .proto was loaded with `keepCase`); read with
 * either the proto or the JSON name of a field, refusing (INVALID_ARGUMENT) an empty body, an unknown
 * field, a field given twice and two members of one oneof.
 */
export function createMessageCodec<T extends object = Record<string, unknown>>(
  type: protobuf.Type,
): MessageCodec<T> {
  type.setup();
  jsonFieldIndex(type);
  const flat = isFlatMessage(type);
  const readFlatBytes = flat ? flatJsonReader(type) : undefined;
  const codec: MessageCodec<T> = {
    typeName: type.fullName.replace(/^\./, ""),
    encode: (message, name) => (name === "json" ? codec.encodeJson(message) : codec.encodeBinary(message)),
    decode: (bytes, name) => (name === "json" ? codec.decodeJson(bytes) : codec.decodeBinary(bytes)),
    encodeBinary(message) {
      return type.encode(message as protobuf.Message).finish();
    },
    decodeBinary(bytes) {
      let message: protobuf.Message;
      try {
        message = type.decode(bytes);
      } catch (cause) {
        throw new RpcError(Code.InvalidArgument, `cannot decode ${codec.typeName}: ${errorText(cause)}`, {
          cause,
        });
      }
      return message as unknown as T;
    },
    encodeJson(message) {
      const object = type.toObject(type.fromObject(message as Record<string, unknown>), protoJsonOptions);
      return Buffer.from(JSON.stringify(omitJsonDefaults(type, object)));
    },
    decodeJson(bytes) {
      // The usual flat body is read straight from the bytes; what that reader does not take is parsed in full.
      const quick = readFlatBytes?.(bytes);
      if (quick !== undefined) return quick as T;
      const value = parseJsonBody(bytes, codec.typeName);
      if (flat) {
        const message = readFlatJson(type, value);
        if (typeof message === "string") {
          throw new RpcError(Code.InvalidArgument, `cannot decode ${codec.typeName} from JSON: ${message}`);
        }
        return message as T;
      }
      const problem = jsonShapeProblem(type, value);
      if (problem !== undefined) {
        throw new RpcError(Code.InvalidArgument, `cannot decode ${codec.typeName} from JSON: ${problem}`);
      }
      return type.toObject(type.fromObject(value as Record<string, unknown>), jsonDecoded) as T;
    },
  };
  return codec;
}

function errorText(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
