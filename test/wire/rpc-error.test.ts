import t from "tap";
import { Code } from "../../src/wire/code.ts";
import { RpcError } from "../../src/wire/rpc-error.ts";

t.test("fields and message", async (t) => {
  const metadata = new Map([["x-trace", ["1"]]]);
  const cause = new Error("disk");
  const details = new Uint8Array([8, 5]);
  const error = new RpcError(Code.NotFound, "no such service", { metadata, cause, details });
  t.ok(error instanceof Error);
  t.equal(error.name, "RpcError");
  t.equal(error.code, Code.NotFound);
  t.equal(error.message, "[NOT_FOUND] no such service");
  t.equal(error.rawMessage, "no such service");
  t.equal(error.metadata, metadata);
  t.equal(error.cause, cause);
  t.equal(error.details, details, "grpc-status-details-bin kept as received");

  const bare = new RpcError(Code.Internal, "");
  t.equal(bare.message, "[INTERNAL]");
  t.equal(bare.rawMessage, "");
  t.same([...bare.metadata], []);
  t.equal(bare.details, undefined);
  t.equal(bare.cause, undefined);
});

t.test("from()", async (t) => {
  const original = new RpcError(Code.Aborted, "x");
  t.equal(RpcError.from(original), original, "an RpcError is returned as is");

  const timeout = RpcError.from(new DOMException("too slow", "TimeoutError"));
  t.equal(timeout.code, Code.DeadlineExceeded);
  t.equal(timeout.rawMessage, "too slow");

  const abort = new AbortController();
  abort.abort();
  const canceled = RpcError.from(abort.signal.reason);
  t.equal(canceled.code, Code.Canceled);

  const timedOut = AbortSignal.timeout(0);
  await new Promise((resolve) => setTimeout(resolve, 5));
  t.equal(RpcError.from(timedOut.reason).code, Code.DeadlineExceeded);

  const plain = new Error("boom");
  const wrapped = RpcError.from(plain);
  t.equal(wrapped.code, Code.Unknown);
  t.equal(wrapped.rawMessage, "boom");
  t.equal(wrapped.cause, plain);
  t.equal(RpcError.from(plain, Code.Internal).code, Code.Internal, "fallback code");

  const coded = Object.assign(new Error("limit"), { code: Code.ResourceExhausted });
  t.equal(RpcError.from(coded).code, Code.ResourceExhausted, "a numeric gRPC code on the error is used");
  const ok = Object.assign(new Error("odd"), { code: 0 });
  t.equal(RpcError.from(ok).code, Code.Unknown, "code 0 is not an error");
  const nodeError = Object.assign(new Error("reset"), { code: "ECONNRESET" });
  t.equal(RpcError.from(nodeError).code, Code.Unknown, "string codes are ignored");

  const fromString = RpcError.from("just text");
  t.equal(fromString.code, Code.Unknown);
  t.equal(fromString.rawMessage, "just text");
  t.equal(fromString.cause, "just text");
  t.equal(RpcError.from(undefined, Code.Internal).rawMessage, "undefined");
});
