// The exact bytes of one grpc.health.v1.Health/Check exchange, shared by the load generators, the
// correctness probes and the ceiling servers (which answer these bytes without decoding anything).

/** The service every server under test reports SERVING (a named one, so requests carry a field to decode). */
export const benchService = "bench";

export const checkPath = "/grpc.health.v1.Health/Check";
export const watchPath = "/grpc.health.v1.Health/Watch";

/** `HealthCheckRequest{service:"bench"}` in protobuf: field 1, wire type 2, length 5. */
export const checkRequestProto = Buffer.from([0x0a, benchService.length, ...Buffer.from(benchService)]);
/** `HealthCheckResponse{status:SERVING}` in protobuf: field 1, varint 1. */
export const checkResponseProto = Buffer.from([0x08, 0x01]);

export const checkRequestJson = Buffer.from(JSON.stringify({ service: benchService }));
export const checkResponseJson = Buffer.from(JSON.stringify({ status: "SERVING" }));

/** A gRPC length-prefixed message: flags 0, 4-byte big-endian length, payload. */
export function envelope(payload, flags = 0) {
  const out = Buffer.allocUnsafe(5 + payload.length);
  out[0] = flags;
  out.writeUInt32BE(payload.length, 1);
  payload.copy(out, 5);
  return out;
}

export const checkRequestGrpc = envelope(checkRequestProto);
export const checkResponseGrpc = envelope(checkResponseProto);

/** The serving status in a HealthCheckResponse payload (absent field = UNKNOWN), or -1 when unreadable. */
export function decodeStatus(payload) {
  if (payload.length === 0) return 0;
  if (payload.length === 2 && payload[0] === 0x08 && payload[1] < 0x80) return payload[1];
  return -1;
}

export const statusNames = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

/**
 * The load cases: what goes over the wire and what a correct answer looks like.
 * `http` is the HTTP version the loader speaks; `kind` selects the probe's checks.
 */
export const cases = [
  {
    id: "grpc-h2c",
    title: "gRPC Check, h2c",
    http: "2",
    kind: "grpc",
    headers: { "content-type": "application/grpc", te: "trailers" },
    body: checkRequestGrpc,
    expect: { contentType: /^application\/grpc/, body: checkResponseGrpc },
  },
  {
    id: "triple-json-h1",
    title: "triple JSON Check, HTTP/1.1",
    http: "1.1",
    kind: "json",
    headers: { "content-type": "application/json" },
    body: checkRequestJson,
    expect: { contentType: /^application\/json/ },
  },
  {
    id: "triple-json-h2c",
    title: "triple JSON Check, h2c",
    http: "2",
    kind: "json",
    headers: { "content-type": "application/json" },
    body: checkRequestJson,
    expect: { contentType: /^application\/json/ },
  },
  {
    id: "triple-proto-h2c",
    title: "triple proto Check, h2c",
    http: "2",
    kind: "proto",
    headers: { "content-type": "application/proto" },
    body: checkRequestProto,
    expect: { contentType: /^application\/proto/, body: checkResponseProto },
  },
];

/**
 * How a gRPC Check stream ended, once it closed: its grpc-status (trailers, or a Trailers-Only head), the
 * response body bytes and the RST code. For the soak and the attackers' fresh-connection Check.
 */
export function grpcCheckOutcome(stream) {
  return new Promise((resolve) => {
    let status;
    let bodyBytes = 0;
    stream.on("response", (head) => {
      status ??= head["grpc-status"];
    });
    stream.on("trailers", (trailers) => {
      status = trailers["grpc-status"];
    });
    stream.on("data", (chunk) => {
      bodyBytes += chunk.length;
    });
    stream.on("error", () => {});
    stream.on("close", () => resolve({ status, bodyBytes, rstCode: stream.rstCode }));
  });
}
