import { Code, codeFromTripleName, isCode, tripleCodeName } from "../wire/code.ts";
import { type Metadata, RpcError } from "../wire/rpc-error.ts";

/*
 * The JSON error of triple and Connect, both directions: the body of a failed triple unary call and
 * the `error` of a triple/Connect end-stream message (end-stream.ts).
 */

/** The JSON error as written: `{"code":"not_found","status":5,"message":"…"}`. @internal */
export interface ErrorJson {
  code: string;
  status: number;
  message?: string;
}

/**
 * The JSON error of `error`, readable by every dialect: dubbo-go and connect read the string
 * `code`, dubbo-js the numeric `status`; the rest ignore the field they don't know. `message` is
 * left out when empty.
 * @internal
 */
export function errorToJson(error: RpcError): ErrorJson {
  const out: ErrorJson = { code: tripleCodeName(error.code), status: error.code };
  if (error.rawMessage !== "") out.message = error.rawMessage;
  return out;
}

/** {@link errorToJson} serialized. @internal */
export function encodeErrorJson(error: RpcError): Buffer {
  return Buffer.from(JSON.stringify(errorToJson(error)));
}

/**
 * The error a parsed JSON error describes, in any dialect: a string `code` (connect, dubbo-go; a
 * numeric `code` is taken too), else a numeric `status` (dubbo-js), else `fallback` (the code of the
 * HTTP status, or UNKNOWN in an end-stream message). An OK code counts as none. Undefined when
 * `value` is not an object, or names neither a code nor a message.
 * @internal
 */
export function errorFromJson(value: unknown, fallback: Code, metadata: Metadata): RpcError | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const object = value as { code?: unknown; status?: unknown; message?: unknown };
  let code: Code | undefined;
  if (typeof object.code === "string") code = codeFromTripleName(object.code);
  else if (isCode(object.code)) code = object.code;
  if (code === undefined && isCode(object.status)) code = object.status;
  if (code === Code.Ok) code = undefined;
  const message = typeof object.message === "string" ? object.message : "";
  if (code === undefined && message === "") return undefined;
  return new RpcError(code ?? fallback, message, { metadata });
}

/**
 * {@link errorFromJson} of a serialized JSON error (a triple unary error body); undefined when the
 * bytes are not JSON or not an error.
 * @internal
 */
export function decodeErrorJson(bytes: Uint8Array, fallback: Code, metadata: Metadata): RpcError | undefined {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"));
  } catch {
    return undefined;
  }
  return errorFromJson(value, fallback, metadata);
}
