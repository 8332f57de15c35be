import { frameOnce } from "../wire/envelope-encoder.ts";
import {
  type HealthCheckRequest,
  type HealthCheckResponse,
  type HealthListRequest,
  type HealthListResponse,
  ServingStatus,
} from "./health-types.ts";
import { createMessageCodec, type MessageCodec } from "./message-codec.ts";
import { loadProtoFiles } from "./proto-files.ts";

const root = loadProtoFiles("health.proto");

/**
 * The Check/Watch reply has four possible values: encode each once, so answering a Check or notifying
 * thousands of watchers costs no serialization, and frame each once (`frameOnce`), so that writing one
 * allocates no envelope either. The cached bytes are shared: never write into them.
 */
function withCachedReplies(codec: MessageCodec<HealthCheckResponse>): MessageCodec<HealthCheckResponse> {
  const statuses = [
    ServingStatus.Unknown,
    ServingStatus.Serving,
    ServingStatus.NotServing,
    ServingStatus.ServiceUnknown,
  ];
  const binary = statuses.map((status) => codec.encodeBinary({ status }));
  const json = statuses.map((status) => codec.encodeJson({ status }));
  for (const bytes of [...binary, ...json]) frameOnce(bytes);
  const cached: MessageCodec<HealthCheckResponse> = {
    ...codec,
    encode: (message, name) => (name === "json" ? cached.encodeJson(message) : cached.encodeBinary(message)),
    encodeBinary: (message) => binary[message.status] ?? codec.encodeBinary(message),
    encodeJson: (message) => json[message.status] ?? codec.encodeJson(message),
  };
  return cached;
}

/**
 * Codecs (binary and proto3 JSON) of the four health messages, loaded from `proto/health.proto`.
 * `checkResponse` hands out shared, cached bytes for the four statuses: never write into them.
 */
export const healthCodecs = {
  checkRequest: createMessageCodec<HealthCheckRequest>(root.lookupType("grpc.health.v1.HealthCheckRequest")),
  checkResponse: withCachedReplies(
    createMessageCodec<HealthCheckResponse>(root.lookupType("grpc.health.v1.HealthCheckResponse")),
  ),
  listRequest: createMessageCodec<HealthListRequest>(root.lookupType("grpc.health.v1.HealthListRequest")),
  listResponse: createMessageCodec<HealthListResponse>(root.lookupType("grpc.health.v1.HealthListResponse")),
} as const satisfies Record<string, MessageCodec<object>>;
