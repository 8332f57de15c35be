import t from "tap";
import { Code } from "../../src/wire/code.ts";
import { ConfigError } from "../../src/wire/config-error.ts";
import {
  formatGrpcTimeout,
  formatTimeoutMs,
  parseGrpcTimeout,
  parseTimeoutMs,
} from "../../src/wire/timeout.ts";

t.test("parseGrpcTimeout", async (t) => {
  const cases: [string, number][] = [
    ["1H", 3_600_000],
    ["2M", 120_000],
    ["3S", 3000],
    ["100m", 100],
    ["0m", 0],
    ["1000u", 1],
    ["1001u", 2],
    ["1u", 1],
    ["0u", 0],
    ["1000000n", 1],
    ["1n", 1],
    ["0n", 0],
    ["99999999H", 99_999_999 * 3_600_000],
    ["00000005S", 5000],
  ];
  for (const [value, ms] of cases) t.equal(parseGrpcTimeout(value), ms, value);
});

t.test("parseGrpcTimeout rejects malformed values with INTERNAL (grpc-go, grpc-js)", async (t) => {
  for (const value of [
    "",
    "1",
    "m",
    "123456789m",
    "1h",
    "1s",
    "1x",
    "-1m",
    "+1m",
    "1.5S",
    " 1S",
    "1S ",
    "1 S",
    "1S1",
    "0x10m",
    "１S",
  ]) {
    t.throws(() => parseGrpcTimeout(value), { name: "RpcError", code: Code.Internal }, JSON.stringify(value));
  }
});

t.test("formatGrpcTimeout picks a unit that fits 8 digits, rounding up", async (t) => {
  const cases: [number, string][] = [
    [0, "0n"],
    [-5, "0n"],
    [1, "1m"],
    [1500, "1500m"],
    [99_999_999, "99999999m"],
    [100_000_000, "100000S"],
    [100_000_001, "100001S"],
    [99_999_999_000, "99999999S"],
    [99_999_999_001, "1666667M"],
    [99_999_999 * 60_000 + 1, "1666667H"],
    [99_999_999 * 3_600_000, "99999999H"],
    [99_999_999 * 3_600_000 + 1, "99999999H"],
    [Number.POSITIVE_INFINITY, "99999999H"],
    [0.5, "500000n"],
    [0.000_001, "1n"],
    [99.999_999, "99999999n"],
    [100.5, "100500u"],
    [99_999.999, "99999999u"],
    [100_000.5, "100001m"],
  ];
  for (const [ms, text] of cases) {
    t.equal(formatGrpcTimeout(ms), text, `${ms} ms`);
    t.match(text, /^\d{1,8}[HMSmun]$/);
    if (ms > 0 && Number.isFinite(ms) && ms <= 99_999_999 * 3_600_000) {
      t.ok(parseGrpcTimeout(text) >= Math.ceil(ms), `${text} is not shorter than ${ms} ms`);
    }
  }
  t.throws(() => formatGrpcTimeout(Number.NaN), ConfigError);
});

t.test("parseTimeoutMs: 1-10 digits, else INVALID_ARGUMENT (dubbo-go, connect)", async (t) => {
  t.equal(parseTimeoutMs("0"), 0);
  t.equal(parseTimeoutMs("1500"), 1500);
  t.equal(parseTimeoutMs("9999999999"), 9_999_999_999);
  t.equal(parseTimeoutMs("0000000001"), 1);
  for (const value of ["", "10000000000", "-1", "+1", "1.5", "1e3", " 1", "1 ", "0x10", "abc", "１"]) {
    t.throws(
      () => parseTimeoutMs(value),
      { name: "RpcError", code: Code.InvalidArgument },
      JSON.stringify(value),
    );
  }
});

t.test("formatTimeoutMs", async (t) => {
  t.equal(formatTimeoutMs(1500), "1500");
  t.equal(formatTimeoutMs(0.2), "1");
  t.equal(formatTimeoutMs(0), "0");
  t.equal(formatTimeoutMs(-3), "0");
  t.equal(formatTimeoutMs(1e12), "9999999999");
  t.equal(formatTimeoutMs(Number.POSITIVE_INFINITY), "9999999999");
  t.equal(parseTimeoutMs(formatTimeoutMs(123_456)), 123_456);
  t.throws(() => formatTimeoutMs(Number.NaN), ConfigError);
});
