import { Readable } from "node:stream";
import t from "tap";
import { readAll } from "../../src/wire/read-all.ts";

const tooLarge = () => new Error("too large");

async function* chunks(...items: (Uint8Array | string)[]) {
  yield* items;
}

t.test("readAll collects Buffers, plain Uint8Arrays and strings into one buffer", async (t) => {
  const one = Buffer.from("abc");
  t.equal(await readAll(chunks(one), 3, tooLarge), one, "a single Buffer comes back as it is");
  const mixed = await readAll(chunks(Buffer.from("ab"), new Uint8Array([0x63, 0x64]), "ef"), 6, tooLarge);
  t.equal(mixed.toString(), "abcdef");
  t.equal((await readAll(chunks(), 0, tooLarge)).length, 0, "no chunk: an empty buffer");
});

t.test("readAll fails at the first chunk past the limit and stops reading", async (t) => {
  await t.rejects(readAll(chunks("abc", "d"), 3, tooLarge), { message: "too large" });
  let pulled = 0;
  const endless = new Readable({
    read() {
      pulled++;
      this.push(Buffer.alloc(1024));
    },
  });
  await t.rejects(readAll(endless, 4096, tooLarge), { message: "too large" });
  t.ok(endless.destroyed, "the stream is destroyed when the loop is left");
  t.ok(pulled < 16, `it stopped pulling (${pulled} reads)`);
});
