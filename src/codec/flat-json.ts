import protobuf from "protobufjs";
import { jsonFieldIndex } from "./json-shape.ts";

/**
 * Reads the JSON bodies nearly every triple JSON call carries — one object of a flat message type
 * (see `isFlatMessage`) with plain ASCII strings, such as `{"service":"greet.GreetService"}` — straight
 * from the bytes into the message, field names compared as bytes. That skips the UTF-8 decoder,
 * `JSON.parse`'s object and a second pass to convert it, which together cost more than the rest of
 * decoding a Check.
 *
 * It takes only what it reads exactly as `JSON.parse` + `readFlatJson` would, and returns undefined for
 * anything else (escapes, non-ASCII, nesting, a byte-order mark, a value of the wrong kind, an unknown or
 * repeated field, malformed input): the caller then runs the full decoder, which also words the errors.
 */
export type FlatJsonReader = (bytes: Uint8Array) => Record<string, unknown> | undefined;

enum Kind {
  String = 0,
  Enum = 1,
  Bool = 2,
  Integer = 3,
  Float = 4,
}

interface FieldPlan {
  readonly name: string;
  /** Its names as JSON may write them (proto name, JSON name; see `jsonFieldIndex`), as bytes. */
  readonly keys: readonly Uint8Array[];
  readonly kind: Kind;
  readonly byDefault: unknown;
  readonly enumValues: Readonly<Record<string, number>> | undefined;
}

const space = 0x20;
const tab = 0x09;
const newline = 0x0a;
const carriageReturn = 0x0d;
const quote = 0x22;
const backslash = 0x5c;
const comma = 0x2c;
const colon = 0x3a;
const openBrace = 0x7b;
const closeBrace = 0x7d;
const minus = 0x2d;
const plus = 0x2b;
const dot = 0x2e;
const zero = 0x30;
const nine = 0x39;
const lowerE = 0x65;
const upperE = 0x45;

/** A reader for one flat message type; call only for types `isFlatMessage` accepts. */
export function flatJsonReader(type: protobuf.Type): FlatJsonReader {
  const names = [...jsonFieldIndex(type)];
  const fields: FieldPlan[] = type.fieldsArray.map((field, i) => {
    field.resolve();
    const resolved = field.resolvedType;
    return {
      name: field.name,
      keys: names.filter(([, index]) => index === i).map(([name]) => Buffer.from(name, "utf8")),
      kind:
        resolved instanceof protobuf.Enum
          ? Kind.Enum
          : field.type === "string"
            ? Kind.String
            : field.type === "bool"
              ? Kind.Bool
              : field.type === "double" || field.type === "float"
                ? Kind.Float
                : Kind.Integer,
      byDefault: field.typeDefault,
      enumValues: resolved instanceof protobuf.Enum ? resolved.values : undefined,
    };
  });
  return (bytes) => read(fields, bytes);
}

// Where the scan has got to: one module-level cursor, so that reading allocates no state object.
let at = 0;
// Marks a value the reader does not take (the full decoder decides what it is).
const unreadable = Symbol("unreadable");

function read(fields: readonly FieldPlan[], bytes: Uint8Array): Record<string, unknown> | undefined {
  const end = bytes.length;
  at = 0;
  skipSpace(bytes, end);
  if (bytes[at] !== openBrace) return undefined;
  at++;
  const values: unknown[] = new Array(fields.length);
  skipSpace(bytes, end);
  if (bytes[at] === closeBrace) at++;
  else {
    for (;;) {
      // An unknown field, or one given twice (JSON.parse would keep the last), is an error the full
      // decoder words; `null` is stored as null, so a second mention is seen too.
      const field = scanKey(fields, bytes, end);
      if (field === undefined || values[field] !== undefined) return undefined;
      skipSpace(bytes, end);
      if (bytes[at] !== colon) return undefined;
      at++;
      skipSpace(bytes, end);
      const value = scanValue(fields[field]!, bytes, end);
      if (value === unreadable) return undefined;
      values[field] = value;
      skipSpace(bytes, end);
      const next = bytes[at++];
      if (next === closeBrace) break;
      if (next !== comma) return undefined;
      skipSpace(bytes, end);
    }
  }
  skipSpace(bytes, end);
  if (at !== end) return undefined;
  // Built in field order, as readFlatJson builds it, so every message of the type has one shape.
  const message: Record<string, unknown> = {};
  for (let i = 0; i < fields.length; i++) {
    const value = values[i];
    message[fields[i]!.name] = value === undefined || value === null ? fields[i]!.byDefault : value;
  }
  return message;
}

function skipSpace(bytes: Uint8Array, end: number): void {
  while (at < end) {
    const byte = bytes[at]!;
    if (byte !== space && byte !== newline && byte !== carriageReturn && byte !== tab) return;
    at++;
  }
}

/** The index of the field a key names; undefined for an unknown field or a key not readable. */
function scanKey(fields: readonly FieldPlan[], bytes: Uint8Array, end: number): number | undefined {
  const start = at;
  if (!skipString(bytes, end)) return undefined;
  const length = at - start - 2;
  for (let i = 0; i < fields.length; i++) {
    const keys = fields[i]!.keys;
    next: for (let k = 0; k < keys.length; k++) {
      const key = keys[k]!;
      if (key.length !== length) continue;
      for (let j = 0; j < length; j++) if (key[j] !== bytes[start + 1 + j]) continue next;
      return i;
    }
  }
  return undefined;
}

// A string of printable ASCII without escapes, cursor past its closing quote; false for anything else.
function skipString(bytes: Uint8Array, end: number): boolean {
  if (bytes[at] !== quote) return false;
  at++;
  while (at < end) {
    const byte = bytes[at++]!;
    if (byte === quote) return true;
    if (byte < space || byte === backslash || byte >= 0x80) return false;
  }
  return false;
}

/** The value for `field`, or `unreadable`. */
function scanValue(field: FieldPlan, bytes: Uint8Array, end: number): unknown {
  const first = bytes[at];
  if (first === quote) {
    const start = at + 1;
    if (!skipString(bytes, end)) return unreadable;
    if (field.kind === Kind.String) return asciiText(bytes, start, at - 1);
    if (field.kind === Kind.Enum) {
      const number = field.enumValues![asciiText(bytes, start, at - 1)];
      return typeof number === "number" ? number : unreadable;
    }
    return unreadable;
  }
  if (first === minus || (first !== undefined && first >= zero && first <= nine)) {
    const number = scanNumber(bytes, end);
    if (number === unreadable) return number;
    if (field.kind === Kind.Float) return number;
    return (field.kind === Kind.Integer || field.kind === Kind.Enum) && Number.isInteger(number)
      ? number
      : unreadable;
  }
  if (matchWord(bytes, end, "null")) return null;
  const truth = matchWord(bytes, end, "true") ? true : matchWord(bytes, end, "false") ? false : undefined;
  if (truth === undefined) return unreadable;
  return field.kind === Kind.Bool ? truth : unreadable;
}

function matchWord(bytes: Uint8Array, end: number, word: string): boolean {
  if (at + word.length > end) return false;
  for (let i = 0; i < word.length; i++) if (bytes[at + i] !== word.charCodeAt(i)) return false;
  at += word.length;
  return true;
}

function asciiText(bytes: Uint8Array, start: number, stop: number): string {
  // Short strings (service names) build faster by hand than through a native call.
  if (stop - start <= 32) {
    let text = "";
    for (let i = start; i < stop; i++) text += String.fromCharCode(bytes[i]!);
    return text;
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, stop - start).toString("latin1");
}

// JSON's number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
function scanNumber(bytes: Uint8Array, end: number): number | typeof unreadable {
  const start = at;
  if (bytes[at] === minus) at++;
  if (bytes[at] === zero) at++;
  else if (!digits(bytes, end)) return unreadable;
  if (bytes[at] === dot) {
    at++;
    if (!digits(bytes, end)) return unreadable;
  }
  const exponent = bytes[at];
  if (exponent === lowerE || exponent === upperE) {
    at++;
    if (bytes[at] === plus || bytes[at] === minus) at++;
    if (!digits(bytes, end)) return unreadable;
  }
  return Number(asciiText(bytes, start, at));
}

function digits(bytes: Uint8Array, end: number): boolean {
  const start = at;
  while (at < end && bytes[at]! >= zero && bytes[at]! <= nine) at++;
  return at > start;
}
