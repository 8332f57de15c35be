import { tripleCodeName } from "../wire/code.ts";
import type { Metadata, RpcError } from "../wire/rpc-error.ts";

/**
 * The JSON error of triple and Connect, readable by every dialect: dubbo-go and connect read the
 * string `code`, dubbo-js the numeric `status`; the rest ignore the field they don't know.
 * `{"code":"not_found","status":5,"message":"…"}`; `message` is left out when empty.
 * @internal
 */
export function errorJson(error: RpcError): { code: string; status: number; message?: string } {
  const out: { code: string; status: number; message?: string } = {
    code: tripleCodeName(error.code),
    status: error.code,
  };
  if (error.rawMessage !== "") out.message = error.rawMessage;
  return out;
}

/** {@link errorJson} serialized. @internal */
export function encodeErrorJson(error: RpcError): Buffer {
  return Buffer.from(JSON.stringify(errorJson(error)));
}

/**
 * The end-stream message of triple/Connect streaming (envelope flag 0x02):
 * `{"error":{…},"metadata":{"key":["value"]}}`, each part present only when there is one.
 * @internal
 */
export function encodeEndStreamJson(error: RpcError | undefined, metadata: Metadata | undefined): Buffer {
  const out: { error?: ReturnType<typeof errorJson>; metadata?: Record<string, string[]> } = {};
  if (error !== undefined) out.error = errorJson(error);
  if (metadata !== undefined && metadata.size > 0) {
    const record: Record<string, string[]> = {};
    for (const [key, values] of metadata) record[key] = values;
    out.metadata = record;
  }
  return Buffer.from(JSON.stringify(out));
}
