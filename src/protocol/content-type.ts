import type { CodecName } from "../codec/message-codec.ts";
import { headerValue, type IncomingHeaders } from "./request-head.ts";

/** The protocol families served, told apart by the request's content-type. @internal */
export type ProtocolKind = "grpc" | "grpc-web" | "triple";

/**
 * What a request's content-type says about the call. Instances are shared and frozen: negotiation
 * allocates nothing for the content-types real clients send.
 * @internal
 */
export interface ContentTypeInfo {
  readonly protocol: ProtocolKind;
  readonly codec: CodecName;
  /**
   * True when the body is a sequence of envelopes (gRPC, gRPC-Web, triple/Connect streaming);
   * false for a triple unary body, which is the raw message.
   */
  readonly enveloped: boolean;
  /** gRPC-Web-Text: the body is base64 in both directions. */
  readonly text: boolean;
  /** The content-type the response carries. */
  readonly responseType: string;
}

function info(
  protocol: ProtocolKind,
  codec: CodecName,
  enveloped: boolean,
  text: boolean,
  responseType: string,
): ContentTypeInfo {
  return Object.freeze({ protocol, codec, enveloped, text, responseType });
}

const grpcProto = info("grpc", "proto", true, false, "application/grpc");
const grpcProtoNamed = info("grpc", "proto", true, false, "application/grpc+proto");
const grpcJson = info("grpc", "json", true, false, "application/grpc+json");
const webProto = info("grpc-web", "proto", true, false, "application/grpc-web");
const webProtoNamed = info("grpc-web", "proto", true, false, "application/grpc-web+proto");
const webJson = info("grpc-web", "json", true, false, "application/grpc-web+json");
const webTextProto = info("grpc-web", "proto", true, true, "application/grpc-web-text");
const webTextProtoNamed = info("grpc-web", "proto", true, true, "application/grpc-web-text+proto");
const webTextJson = info("grpc-web", "json", true, true, "application/grpc-web-text+json");
const tripleJson = info("triple", "json", false, false, "application/json");
const tripleProto = info("triple", "proto", false, false, "application/proto");
const connectJson = info("triple", "json", true, false, "application/connect+json");
const connectProto = info("triple", "proto", true, false, "application/connect+proto");

// Exact spellings, looked up before any parsing.
const known = new Map<string, ContentTypeInfo>([
  ["application/grpc", grpcProto],
  ["application/grpc+proto", grpcProtoNamed],
  ["application/grpc+json", grpcJson],
  ["application/grpc-web", webProto],
  ["application/grpc-web+proto", webProtoNamed],
  ["application/grpc-web+json", webJson],
  ["application/grpc-web-text", webTextProto],
  ["application/grpc-web-text+proto", webTextProtoNamed],
  ["application/grpc-web-text+json", webTextJson],
  ["application/json", tripleJson],
  ["application/proto", tripleProto],
  ["application/connect+json", connectJson],
  ["application/connect+proto", connectProto],
]);

// The JSON content-types with the charset parameter they may carry: a request that names it gets it back
// on the response (`application/json; charset=utf-8`), as dubbo-go and connect-go answer (their codec
// "json; charset=utf-8" is a name of its own). Shared and frozen like the plain ones.
const withCharset = new Map<ContentTypeInfo, ContentTypeInfo>(
  [...known.values()]
    .filter((type) => type.codec === "json")
    .map((type) => [
      type,
      info(type.protocol, type.codec, type.enveloped, type.text, `${type.responseType}; charset=utf-8`),
    ]),
);

// `type/subtype` then parameters; JSON may say `charset=utf-8` (any case, quoted or not), nothing else.
const parameterPattern = /^\s*([a-z0-9-]+)\s*=\s*"?([^";]*)"?\s*$/;

/**
 * Reads a request content-type: the protocol, codec and body framing, or undefined when it is none
 * of the served ones (the caller answers HTTP 415). Matching is case-insensitive; a `charset`
 * parameter is accepted when it names UTF-8, and only for JSON: the response then says
 * `; charset=utf-8` too (in that spelling, however the request wrote it).
 * @internal
 */
export function parseContentType(value: string | undefined): ContentTypeInfo | undefined {
  if (value === undefined) return undefined;
  const exact = known.get(value);
  if (exact !== undefined) return exact;
  const parts = value.toLowerCase().split(";");
  const found = known.get(parts[0]!.trim());
  if (found === undefined) return undefined;
  let charset = false;
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i]!;
    if (part.trim() === "") continue;
    const match = parameterPattern.exec(part);
    if (match === null || match[1] !== "charset" || found.codec !== "json") return undefined;
    if (match[2] !== "utf-8" && match[2] !== "utf8") return undefined;
    charset = true;
  }
  return charset ? withCharset.get(found)! : found;
}

/**
 * The content-type a client sends for a call: `application/grpc+{codec}`, `application/connect+{codec}`
 * (triple streaming) or `application/{codec}` (triple unary). The same shared objects the server's
 * negotiation returns, so both sides agree on what each one means.
 * @internal
 */
export function requestContentType(
  protocol: "grpc" | "triple",
  codec: CodecName,
  enveloped: boolean,
): ContentTypeInfo {
  if (protocol === "grpc") return codec === "json" ? grpcJson : grpcProtoNamed;
  if (enveloped) return codec === "json" ? connectJson : connectProto;
  return codec === "json" ? tripleJson : tripleProto;
}

/**
 * The media type of received headers without parameters, lower-cased (`""` when absent): how the
 * client reads a response's content-type, more leniently than {@link parseContentType}.
 * @internal
 */
export function mediaType(headers: IncomingHeaders): string {
  const value = headerValue(headers, "content-type") ?? "";
  return value.split(";")[0]!.trim().toLowerCase();
}

/** Every content-type served, for documentation and `Accept`-style error messages. @internal */
export const servedContentTypes: readonly string[] = [...known.keys()];

// connect-go's format: every accepted content-type (the charset forms included), sorted, joined by ", ".
function acceptPostValue(types: readonly ContentTypeInfo[]): string {
  const names = types.flatMap((type) => {
    const charset = withCharset.get(type);
    return charset === undefined ? [type.responseType] : [type.responseType, charset.responseType];
  });
  return [...new Set(names)].sort().join(", ");
}

/**
 * The `Accept-Post` header of a 415 answer (RFC 9110 §15.5.16 points to it; connect-go and dubbo-go send
 * it): every content-type served, so a client can tell what to send instead.
 * @internal
 */
export const acceptPost: string = acceptPostValue([...known.values()]);

/**
 * `Accept-Post` for a streaming method, which a triple unary content-type cannot call: the enveloped
 * content-types only.
 * @internal
 */
export const acceptPostStreaming: string = acceptPostValue(
  [...known.values()].filter((type) => type.enveloped),
);
