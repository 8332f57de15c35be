import t from "tap";
import {
  Code,
  codeFromHttpStatus,
  codeFromTripleName,
  grpcCodeName,
  httpStatusFromCode,
  isCode,
  tripleCodeName,
} from "../../src/wire/code.ts";

// [code, gRPC name, triple/Connect name, HTTP status] — gRPC's doc/statuscodes.md and dubbo-go's
// protocol_triple.go tripleCodeToHTTP.
const table: [Code, string, string, number][] = [
  [Code.Ok, "OK", "ok", 200],
  [Code.Canceled, "CANCELLED", "canceled", 408],
  [Code.Unknown, "UNKNOWN", "unknown", 500],
  [Code.InvalidArgument, "INVALID_ARGUMENT", "invalid_argument", 400],
  [Code.DeadlineExceeded, "DEADLINE_EXCEEDED", "deadline_exceeded", 408],
  [Code.NotFound, "NOT_FOUND", "not_found", 404],
  [Code.AlreadyExists, "ALREADY_EXISTS", "already_exists", 409],
  [Code.PermissionDenied, "PERMISSION_DENIED", "permission_denied", 403],
  [Code.ResourceExhausted, "RESOURCE_EXHAUSTED", "resource_exhausted", 429],
  [Code.FailedPrecondition, "FAILED_PRECONDITION", "failed_precondition", 412],
  [Code.Aborted, "ABORTED", "aborted", 409],
  [Code.OutOfRange, "OUT_OF_RANGE", "out_of_range", 400],
  [Code.Unimplemented, "UNIMPLEMENTED", "unimplemented", 404],
  [Code.Internal, "INTERNAL", "internal", 500],
  [Code.Unavailable, "UNAVAILABLE", "unavailable", 503],
  [Code.DataLoss, "DATA_LOSS", "data_loss", 500],
  [Code.Unauthenticated, "UNAUTHENTICATED", "unauthenticated", 401],
];

t.test("17 codes with their numbers, names and HTTP statuses", async (t) => {
  t.equal(table.length, 17);
  table.forEach(([code, grpc, triple, http], index) => {
    t.equal(code, index, `${grpc} is ${index}`);
    t.equal(grpcCodeName(code), grpc);
    t.equal(tripleCodeName(code), triple);
    t.equal(httpStatusFromCode(code), http, `${triple} → ${http}`);
    if (code !== Code.Ok) t.equal(codeFromTripleName(triple), code);
    t.ok(isCode(code));
  });
});

t.test("unknown codes and names", async (t) => {
  t.equal(grpcCodeName(17 as Code), "UNKNOWN");
  t.equal(tripleCodeName(-1 as Code), "unknown");
  t.equal(httpStatusFromCode(99 as Code), 500);
  t.equal(codeFromTripleName("cancelled"), Code.Canceled, "gRPC's spelling is accepted");
  t.equal(codeFromTripleName("ok"), undefined, "ok is not an error code");
  t.equal(codeFromTripleName("NOT_FOUND"), undefined);
  t.equal(codeFromTripleName(""), undefined);
  for (const value of [17, -1, 1.5, "1", null, undefined, Number.NaN]) t.notOk(isCode(value), String(value));
});

t.test("HTTP status → code (dubbo-go tripleHTTPToCode, gRPC http-grpc-status-mapping)", async (t) => {
  const expected: [number, Code][] = [
    [400, Code.InvalidArgument],
    [401, Code.Unauthenticated],
    [403, Code.PermissionDenied],
    [404, Code.Unimplemented],
    [408, Code.DeadlineExceeded],
    [412, Code.FailedPrecondition],
    [413, Code.ResourceExhausted],
    [431, Code.ResourceExhausted],
    [429, Code.Unavailable],
    [502, Code.Unavailable],
    [503, Code.Unavailable],
    [504, Code.Unavailable],
    [409, Code.Unknown],
    [415, Code.Unknown],
    [500, Code.Unknown],
    [200, Code.Unknown],
    [418, Code.Unknown],
  ];
  for (const [status, code] of expected) t.equal(codeFromHttpStatus(status), code, `${status}`);
});
