import protobuf from "protobufjs";
import { quotePeerText } from "../wire/peer-text.ts";

const fieldIndexes = new WeakMap<protobuf.Type, ReadonlyMap<string, number>>();

/**
 * Every name a JSON object may give each field of `type`, to its index in `fieldsArray`: the proto name
 * (`foo_bar`), the JSON name (lowerCamel `fooBar`, or `json_name`) and protobufjs's own (camelCase unless
 * the .proto was loaded with `keepCase`). protojson reads both of the first two; so does this.
 * @internal
 */
export function jsonFieldIndex(type: protobuf.Type): ReadonlyMap<string, number> {
  let index = fieldIndexes.get(type);
  if (index === undefined) {
    const names = new Map<string, number>();
    type.fieldsArray.forEach((field, i) => {
      field.resolve();
      names.set(field.jsonName, i);
      names.set(field.protoName, i);
      if (!names.has(field.name)) names.set(field.name, i);
    });
    fieldIndexes.set(type, names);
    index = names;
  }
  return index;
}

function unknownField(path: string, key: string): string {
  return `${path ? `${path}: ` : ""}unknown field ${quotePeerText(key)}`;
}

function duplicateField(path: string, key: string): string {
  return `${path ? `${path}: ` : ""}duplicate field ${quotePeerText(key)}`;
}

/**
 * Checks a parsed JSON value against a message type the way the proto3 JSON mapping reads it, before
 * protobufjs's `fromObject` (which coerces `{"service":5}` into `"5"` instead of refusing it), and
 * renames fields given by their proto or JSON name to protobufjs's name, in place, so that `fromObject`
 * sees them. Returns a description of the first problem, or undefined. As protojson (dubbo-go's and
 * connect-go's JSON codec) with its default options: an unknown field, a field given twice (by two of
 * its names) and two members of one oneof are problems; a `null` field is absent.
 */
export function jsonShapeProblem(type: protobuf.Type, value: unknown, path = ""): string | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return `${path || "message"}: object expected`;
  }
  const object = value as Record<string, unknown>;
  const index = jsonFieldIndex(type);
  const fields = type.fieldsArray;
  let seen: boolean[] | undefined;
  let oneofs: Set<protobuf.OneOf> | undefined;
  for (const [key, fieldValue] of Object.entries(object)) {
    const i = index.get(key);
    if (i === undefined) return unknownField(path, key);
    seen ??= [];
    if (seen[i]) return duplicateField(path, key);
    seen[i] = true;
    const field = fields[i]!;
    if (key !== field.name) {
      object[field.name] = fieldValue;
      delete object[key];
    }
    if (fieldValue === null) continue;
    const where = path ? `${path}.${key}` : key;
    if (field.partOf !== null) {
      oneofs ??= new Set();
      if (oneofs.has(field.partOf)) return `${where}: oneof ${field.partOf.name} is already set`;
      oneofs.add(field.partOf);
    }
    if (field.map) {
      if (typeof fieldValue !== "object" || Array.isArray(fieldValue)) return `${where}: object expected`;
      for (const [mapKey, item] of Object.entries(fieldValue as object)) {
        const problem = scalarOrMessageProblem(field, item, `${where}.${mapKey}`);
        if (problem) return problem;
      }
    } else if (field.repeated) {
      if (!Array.isArray(fieldValue)) return `${where}: array expected`;
      for (let i = 0; i < fieldValue.length; i++) {
        const problem = scalarOrMessageProblem(field, fieldValue[i], `${where}[${i}]`);
        if (problem) return problem;
      }
    } else {
      const problem = scalarOrMessageProblem(field, fieldValue, where);
      if (problem) return problem;
    }
  }
  return undefined;
}

function scalarOrMessageProblem(field: protobuf.Field, value: unknown, where: string): string | undefined {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) return jsonShapeProblem(resolved, value, where);
  if (resolved instanceof protobuf.Enum) {
    if (typeof value === "string" && value in resolved.values) return undefined;
    if (typeof value === "number" && Number.isInteger(value)) return undefined;
    return `${where}: enum value expected`;
  }
  switch (field.type) {
    case "string":
      return typeof value === "string" ? undefined : `${where}: string expected`;
    case "bytes":
      return typeof value === "string" && /^[A-Za-z0-9+/_-]*={0,2}$/.test(value)
        ? undefined
        : `${where}: base64 expected`;
    case "bool":
      return typeof value === "boolean" ? undefined : `${where}: boolean expected`;
    case "double":
    case "float":
      return typeof value === "number" ||
        (typeof value === "string" && /^(-?\d|NaN$|-?Infinity$)/.test(value))
        ? undefined
        : `${where}: number expected`;
    default:
      // the integer types: a JSON number or a decimal string (64-bit values arrive as strings)
      return (typeof value === "number" && Number.isInteger(value)) ||
        (typeof value === "string" && /^-?\d+$/.test(value))
        ? undefined
        : `${where}: integer expected`;
  }
}

// Scalars that JSON carries as themselves (64-bit integers and bytes need protobufjs's conversions).
const flatScalarTypes = new Set([
  "string",
  "bool",
  "int32",
  "uint32",
  "sint32",
  "fixed32",
  "sfixed32",
  "double",
  "float",
]);

/**
 * True when every field is a single scalar of `flatScalarTypes` or an enum: such messages (the health
 * request and reply among them) can be read from JSON in one pass by `readFlatJson`.
 */
export function isFlatMessage(type: protobuf.Type): boolean {
  return type.fieldsArray.every((field) => {
    field.resolve();
    if (field.repeated || field.map || field.partOf) return false;
    return (
      field.resolvedType instanceof protobuf.Enum ||
      (field.resolvedType === null && flatScalarTypes.has(field.type))
    );
  });
}

/**
 * Checks and converts a parsed JSON value of a flat message type in one pass (what the byte reader of
 * flat-json.ts leaves over): defaults for absent fields, enum names to numbers; unknown and repeated
 * fields are problems, as for {@link jsonShapeProblem}. Returns the message, or a description of the
 * first problem as a string.
 */
export function readFlatJson(type: protobuf.Type, value: unknown): Record<string, unknown> | string {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return "message: object expected";
  const fields = type.fieldsArray;
  const index = jsonFieldIndex(type);
  // What each field was given, by whichever of its names; JSON has no undefined, so undefined is "not given".
  const inputs: unknown[] = new Array(fields.length);
  for (const key of Object.keys(value)) {
    const i = index.get(key);
    if (i === undefined) return unknownField("", key);
    if (inputs[i] !== undefined) return duplicateField("", key);
    inputs[i] = (value as Record<string, unknown>)[key];
  }
  const message: Record<string, unknown> = {};
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!;
    const input = inputs[i];
    if (input === undefined || input === null) {
      message[field.name] = field.typeDefault;
      continue;
    }
    const problem = scalarOrMessageProblem(field, input, field.name);
    if (problem !== undefined) return problem;
    if (field.resolvedType instanceof protobuf.Enum) {
      message[field.name] = typeof input === "string" ? field.resolvedType.values[input] : input;
    } else {
      message[field.name] = typeof input === "string" && field.type !== "string" ? Number(input) : input;
    }
  }
  return message;
}
