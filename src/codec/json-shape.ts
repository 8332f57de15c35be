import protobuf from "protobufjs";

/**
 * Checks a parsed JSON value against a message type the way the proto3 JSON mapping reads it, before
 * protobufjs's `fromObject` (which coerces `{"service":5}` into `"5"` instead of refusing it).
 * Returns a description of the first problem, or undefined. Unknown fields are ignored, as the mapping allows.
 */
export function jsonShapeProblem(type: protobuf.Type, value: unknown, path = ""): string | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return `${path || "message"}: object expected`;
  }
  for (const [key, fieldValue] of Object.entries(value)) {
    const field = type.fields[key];
    if (field === undefined || fieldValue === null) continue;
    field.resolve();
    const where = path ? `${path}.${key}` : key;
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
 * Checks and converts a parsed JSON value of a flat message type in one pass (the hot path of triple
 * JSON calls): defaults for absent fields, enum names to numbers, unknown fields ignored. Returns the
 * message, or a description of the first problem as a string.
 */
export function readFlatJson(type: protobuf.Type, value: unknown): Record<string, unknown> | string {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return "message: object expected";
  const message: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    const input = (value as Record<string, unknown>)[field.name];
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
