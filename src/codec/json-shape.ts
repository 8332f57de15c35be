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
