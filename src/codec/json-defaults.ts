import protobuf from "protobufjs";

/*
 * proto3 JSON leaves out every field that holds its zero value and has no presence of its own, as
 * protojson does with its default options (dubbo-go's and connect-go's JSON codec, connect-es's
 * `toJson`): HealthCheckResponse{status: UNKNOWN} is `{}`, not `{"status":"UNKNOWN"}`. Readers of the
 * mapping take an absent field as its zero value, so nothing is lost. Fields of a oneof (proto3
 * `optional` ones among them) have presence: they are written whenever set, even to zero.
 */

function isZeroScalar(field: protobuf.Field, value: unknown): boolean {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Enum) {
    return value === 0 || (typeof value === "string" && resolved.values[value] === 0);
  }
  // Strings, base64 bytes and 64-bit integers (decimal strings) are zero when empty or "0"; -0 is
  // kept, as protobuf-go keeps it.
  return value === "" || value === false || Object.is(value, 0) || (value === "0" && field.type !== "string");
}

/**
 * Deletes from `object` (what protobufjs's `toObject` made of a message of `type`, defaults included)
 * the fields proto3 JSON leaves out, in nested messages too, and returns it.
 * @internal
 */
export function omitJsonDefaults(
  type: protobuf.Type,
  object: Record<string, unknown>,
): Record<string, unknown> {
  for (const field of type.fieldsArray) {
    field.resolve();
    const name = field.name;
    const value = object[name];
    if (value === undefined) continue;
    if (field.partOf !== null) {
      if (value === null) delete object[name];
      else if (field.resolvedType instanceof protobuf.Type)
        omitJsonDefaults(field.resolvedType, value as Record<string, unknown>);
      continue;
    }
    const message = field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
    if (value === null) delete object[name];
    else if (field.map) {
      const entries = value as Record<string, unknown>;
      const keys = Object.keys(entries);
      if (keys.length === 0) delete object[name];
      else if (message !== undefined)
        for (const key of keys) omitJsonDefaults(message, entries[key] as Record<string, unknown>);
    } else if (field.repeated) {
      const items = value as unknown[];
      if (items.length === 0) delete object[name];
      else if (message !== undefined)
        for (const item of items) omitJsonDefaults(message, item as Record<string, unknown>);
    } else if (message !== undefined) omitJsonDefaults(message, value as Record<string, unknown>);
    else if (isZeroScalar(field, value)) delete object[name];
  }
  return object;
}
