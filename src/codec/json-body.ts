import { Code } from "../wire/code.ts";
import { quotePeerText } from "../wire/peer-text.ts";
import { RpcError } from "../wire/rpc-error.ts";
import { duplicateJsonKey } from "./json-duplicate-keys.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Parses a JSON message body as proto3 JSON readers take it, before any field is looked at: refuses
 * (INVALID_ARGUMENT, naming `typeName`) an empty body, bytes that are not UTF-8 or not JSON, and an object
 * that gives a key twice. Shared by the protobufjs codecs and the hand-written health codec, so both word
 * these failures alike.
 * @internal
 */
export function parseJsonBody(bytes: Uint8Array, typeName: string): unknown {
  // dubbo-go and connect-go refuse an empty body too: `{}` is the empty message.
  if (bytes.length === 0) {
    throw new RpcError(
      Code.InvalidArgument,
      `cannot decode ${typeName} from JSON: empty body, want an object`,
    );
  }
  let text: string;
  let value: unknown;
  try {
    text = utf8.decode(bytes);
    value = JSON.parse(text);
  } catch (cause) {
    throw new RpcError(
      Code.InvalidArgument,
      `cannot decode ${typeName} from JSON: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
  }
  // JSON.parse keeps the last of a repeated key; proto3 JSON readers refuse it.
  const duplicate = duplicateJsonKey(text);
  if (duplicate !== undefined) {
    throw new RpcError(
      Code.InvalidArgument,
      `cannot decode ${typeName} from JSON: duplicate field ${quotePeerText(duplicate)}`,
    );
  }
  return value;
}
