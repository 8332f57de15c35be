import t from "tap";
import * as wire from "../../src/wire/index.ts";

t.test("the wire layer's public API is exported from one place", async (t) => {
  const names = [
    "Code",
    "codeFromHttpStatus",
    "codeFromTripleName",
    "grpcCodeName",
    "httpStatusFromCode",
    "isCode",
    "tripleCodeName",
    "findCompression",
    "gzip",
    "identity",
    "supportedEncodings",
    "defaultMaxMessageBytes",
    "EnvelopeDecoder",
    "EnvelopeFlag",
    "envelopeEagerBytes",
    "envelopeHeaderBytes",
    "encodeEnvelope",
    "encodeEnvelopeHeader",
    "encodeEnvelopes",
    "envelopeChunks",
    "envelopeCopyThreshold",
    "decodeGrpcMessage",
    "encodeGrpcMessage",
    "appendMetadataToHeaders",
    "decodeBinaryHeader",
    "defaultMaxMetadataBytes",
    "encodeBinaryHeader",
    "isReservedHeader",
    "metadataFromHeaders",
    "RpcError",
    "ConfigError",
    "formatGrpcTimeout",
    "formatTimeoutMs",
    "parseGrpcTimeout",
    "parseTimeoutMs",
  ];
  t.same(Object.keys(wire).sort(), [...names].sort());
  for (const name of names) t.not((wire as Record<string, unknown>)[name], undefined, name);
});
