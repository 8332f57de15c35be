import t from "tap";
import { ErrorCode, ZooKeeperError } from "../../../src/discovery/zookeeper/errors.ts";
import { JuteReader, JuteWriter } from "../../../src/discovery/zookeeper/jute.ts";
import { hex } from "../../wire/fixtures/decode.ts";

t.test("the writer's bytes, type by type", async (t) => {
  const cases: Array<[string, (w: JuteWriter) => void, string]> = [
    ["int 1", (w) => w.int(1), "00000001"],
    ["int -1", (w) => w.int(-1), "ffffffff"],
    ["int 30000", (w) => w.int(30000), "00007530"],
    ["long 0x0102030405060708", (w) => w.long(0x0102030405060708n), "0102030405060708"],
    ["long -1", (w) => w.long(-1n), "ffffffffffffffff"],
    ["bool true", (w) => w.bool(true), "01"],
    ["bool false", (w) => w.bool(false), "00"],
    ["buffer", (w) => w.buffer(Buffer.from("hi")), "00000002 6869"],
    ["empty buffer", (w) => w.buffer(new Uint8Array(0)), "00000000"],
    ["null buffer", (w) => w.buffer(null), "ffffffff"],
    ["ustring", (w) => w.ustring("/a"), "00000002 2f61"],
    ["ustring, UTF-8 bytes counted", (w) => w.ustring("é"), "00000002 c3a9"],
    ["null ustring", (w) => w.ustring(null), "ffffffff"],
    [
      "vector of ustrings",
      (w) => w.vector(["a", "b"], (w, s) => w.ustring(s)),
      "00000002 00000001 61 00000001 62",
    ],
    ["empty vector", (w) => w.vector([], (w, s: string) => w.ustring(s)), "00000000"],
    ["null vector", (w) => w.vector(null, (w, s: string) => w.ustring(s)), "ffffffff"],
  ];
  for (const [name, write, expected] of cases) {
    const writer = new JuteWriter(1);
    write(writer);
    t.equal(writer.finish().toString("hex"), hex(expected).toString("hex"), name);
    t.equal(writer.length, hex(expected).length, `${name}: length`);
  }
});

t.test("the writer grows past its first buffer", async (t) => {
  const writer = new JuteWriter(2);
  const big = Buffer.alloc(1000, 7);
  writer.int(5).buffer(big).long(9n);
  const out = writer.finish();
  t.equal(out.length, 4 + 4 + 1000 + 8);
  const reader = new JuteReader(out);
  t.equal(reader.int(), 5);
  t.same(reader.buffer(), big);
  t.equal(reader.long(), 9n);
  t.equal(reader.remaining, 0);
});

t.test("the reader reads what the writer wrote", async (t) => {
  const bytes = new JuteWriter()
    .int(-7)
    .long(-2n)
    .bool(true)
    .bool(false)
    .buffer(Buffer.from([1, 2, 3]))
    .buffer(null)
    .ustring("zoo")
    .ustring(null)
    .vector(["x", "yz"], (w, s) => w.ustring(s))
    .vector(null, (w, s: string) => w.ustring(s))
    .finish();
  const reader = new JuteReader(bytes);
  t.equal(reader.int(), -7);
  t.equal(reader.long(), -2n);
  t.equal(reader.bool(), true);
  t.equal(reader.bool(), false);
  t.same([...reader.buffer()!], [1, 2, 3]);
  t.equal(reader.buffer(), null);
  t.equal(reader.ustring(), "zoo");
  t.equal(reader.ustring(), null);
  t.same(
    reader.vector((r) => r.ustring()),
    ["x", "yz"],
  );
  t.equal(
    reader.vector((r) => r.ustring()),
    null,
  );
  t.equal(reader.remaining, 0);
});

t.test("a reader with an offset starts there", async (t) => {
  const reader = new JuteReader(hex("ffff 0000002a"), 2);
  t.equal(reader.int(), 42);
});

t.test("lying lengths are MARSHALLINGERRORs, never allocations", async (t) => {
  const bad: Array<[string, string, (r: JuteReader) => unknown, RegExp]> = [
    ["truncated int", "000000", (r) => r.int(), /int needs 4 bytes, the record has 3 left/],
    ["truncated long", "00000000000000", (r) => r.long(), /long needs 8 bytes/],
    ["missing bool", "", (r) => r.bool(), /bool needs 1 bytes/],
    [
      "buffer longer than the record",
      "7fffffff 00",
      (r) => r.buffer(),
      /buffer needs 2147483647 bytes, the record has 1 left/,
    ],
    ["ustring longer than the record", "00000005 6162", (r) => r.ustring(), /ustring needs 5 bytes/],
    ["negative buffer length", "fffffffe", (r) => r.buffer(), /buffer length -2/],
    ["negative ustring length", "80000000", (r) => r.ustring(), /ustring length -2147483648/],
    ["negative vector count", "fffffff0", (r) => r.vector((x) => x.int()), /vector length -16/],
    [
      "vector count beyond the bytes left",
      "7fffffff 00000001",
      (r) => r.vector((x) => x.int()),
      /vector of 2147483647 items cannot fit in the 4 bytes left/,
    ],
  ];
  for (const [name, bytes, read, message] of bad) {
    const error = t.throws(() => read(new JuteReader(hex(bytes))), name) as unknown;
    t.ok(error instanceof ZooKeeperError, `${name}: a ZooKeeperError`);
    t.equal((error as ZooKeeperError).code, ErrorCode.MARSHALLINGERROR, `${name}: MARSHALLINGERROR`);
    t.match((error as Error).message, message, name);
  }
});

t.test("buffers read are views into the frame (copied only where kept)", async (t) => {
  const frame = hex("00000002 6869");
  const view = new JuteReader(frame).buffer()!;
  frame[4] = 0x48;
  t.equal(view.toString(), "Hi");
});
