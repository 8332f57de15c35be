export {
  Code,
  codeFromHttpStatus,
  codeFromTripleName,
  grpcCodeName,
  httpStatusFromCode,
  isCode,
  tripleCodeName,
} from "./code.ts";
export { type Compression, findCompression, gzip, identity, supportedEncodings } from "./compression.ts";
export { ConfigError } from "./config-error.ts";
export {
  defaultMaxMessageBytes,
  type Envelope,
  EnvelopeDecoder,
  type EnvelopeDecoderOptions,
  EnvelopeFlag,
  envelopeEagerBytes,
  envelopeHeaderBytes,
} from "./envelope.ts";
export {
  encodeEnvelope,
  encodeEnvelopeHeader,
  encodeEnvelopes,
  envelopeChunks,
  envelopeCopyThreshold,
} from "./envelope-encoder.ts";
export { decodeGrpcMessage, encodeGrpcMessage } from "./grpc-message.ts";
export {
  appendMetadataToHeaders,
  decodeBinaryHeader,
  defaultMaxMetadataBytes,
  encodeBinaryHeader,
  isReservedHeader,
  type MetadataOptions,
  metadataFromHeaders,
} from "./metadata.ts";
export { type Metadata, RpcError, type RpcErrorOptions } from "./rpc-error.ts";
export { formatGrpcTimeout, formatTimeoutMs, parseGrpcTimeout, parseTimeoutMs } from "./timeout.ts";
