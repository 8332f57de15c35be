// JuteWriter grows its buffer mid-record: every field written after the growth lands in the new buffer
// (a 300-byte path overflowed the 256-byte initial buffer and threw RangeError).
import t from "tap";
import { JuteReader, JuteWriter } from "../../../src/discovery/zookeeper/index.ts";

t.test("values that do not fit the initial buffer", async (t) => {
  const path = `/dubbo/x/providers/${"a".repeat(300)}`;
  const w = new JuteWriter(8).int(1).ustring(path).buffer(Buffer.alloc(40, 7)).long(5n).bool(true).int(9);
  const r = new JuteReader(w.finish());
  t.equal(r.int(), 1);
  t.equal(r.ustring(), path);
  t.same(r.buffer(), Buffer.alloc(40, 7));
  t.equal(r.long(), 5n);
  t.equal(r.bool(), true);
  t.equal(r.int(), 9);
});
