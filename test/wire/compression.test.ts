import { once } from "node:events";
import { createGzip, gzipSync } from "node:zlib";
import t from "tap";
import { Code } from "../../src/wire/code.ts";
import { findCompression, gzip, identity, supportedEncodings } from "../../src/wire/compression.ts";

t.test("findCompression", async (t) => {
  t.equal(findCompression(undefined), identity);
  t.equal(findCompression(""), identity);
  t.equal(findCompression("identity"), identity);
  t.equal(findCompression("gzip"), gzip);
  t.equal(findCompression("GZIP"), gzip, "tokens are case-insensitive");
  t.equal(findCompression(" gzip "), gzip);
  t.same(supportedEncodings, ["identity", "gzip"]);
  t.ok(Object.isFrozen(supportedEncodings));
  for (const name of ["br", "deflate", "snappy", "zstd", "gzip, br"]) {
    t.throws(() => findCompression(name), {
      name: "RpcError",
      code: Code.Unimplemented,
      message: /accepted are identity, gzip/,
    });
  }
});

t.test("identity", async (t) => {
  t.equal(identity.name, "identity");
  const data = Buffer.from("hello");
  t.equal(await identity.compress(data), data);
  t.equal(await identity.decompress(data, 5), data);
  const plain = new Uint8Array([1, 2, 3]);
  const out = await identity.decompress(plain, 10);
  t.ok(Buffer.isBuffer(out));
  t.equal(out.buffer, plain.buffer);
  t.ok(Buffer.isBuffer(await identity.compress(plain)));
  await t.rejects(identity.decompress(data, 4), { code: Code.ResourceExhausted });
});

t.test("gzip round trip", async (t) => {
  t.equal(gzip.name, "gzip");
  for (const size of [0, 1, 2, 1000, 100_000]) {
    const data = Buffer.alloc(size);
    for (let i = 0; i < size; i++) data[i] = (i * 31) & 0xff;
    const compressed = await gzip.compress(data);
    t.equal(compressed[0], 0x1f, "gzip magic");
    const back = await gzip.decompress(compressed, size);
    t.ok(back.equals(data), `${size} bytes`);
  }
  const fromPeer = gzipSync(Buffer.from("from another gzip"));
  t.equal((await gzip.decompress(new Uint8Array(fromPeer), 100)).toString(), "from another gzip");
  t.equal((await gzip.decompress(new Uint8Array(0), 0)).length, 0, "an empty compressed message is empty");
  t.equal((await gzip.decompress(gzipSync(Buffer.alloc(0)), 0)).length, 0, "limit 0 allows an empty message");
});

t.test("gzip limit is exact", async (t) => {
  const data = gzipSync(Buffer.alloc(1000, 1));
  t.equal((await gzip.decompress(data, 1000)).length, 1000);
  await t.rejects(gzip.decompress(data, 999), { name: "RpcError", code: Code.ResourceExhausted });
  await t.rejects(gzip.decompress(gzipSync(Buffer.from("x")), 0), { code: Code.ResourceExhausted });
});

t.test("corrupt gzip is INTERNAL", async (t) => {
  const good = gzipSync(Buffer.from("hello world, hello world"));
  const truncated = good.subarray(0, good.length - 6);
  const flipped = Buffer.from(good);
  flipped[12] = (flipped[12] ?? 0) ^ 0xff;
  for (const [name, data] of [
    ["not gzip", Buffer.from("hello")],
    ["truncated", truncated],
    ["bit flip", flipped],
    ["bad magic", Buffer.from([0x1f, 0x8c, 8, 0, 0, 0, 0, 0, 0, 3])],
  ] as const) {
    await t.rejects(gzip.decompress(data, 1 << 20), { name: "RpcError", code: Code.Internal }, name);
  }
});

t.test("gzip bomb: 100 MiB of zeros fails with RESOURCE_EXHAUSTED without inflating it", async (t) => {
  // Compress 100 MiB of zeros in 1 MiB steps so the test itself never holds 100 MiB.
  const deflater = createGzip({ level: 9 });
  const parts: Buffer[] = [];
  deflater.on("data", (part: Buffer) => parts.push(part));
  const zeros = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < 100; i++) deflater.write(zeros);
  deflater.end();
  await once(deflater, "end");
  const bomb = Buffer.concat(parts);
  t.ok(bomb.length < 120 * 1024, `compressed to ${bomb.length} bytes`);

  const maxBytes = 4 * 1024 * 1024;
  const before = process.memoryUsage().arrayBuffers;
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().arrayBuffers);
  }, 1);
  const started = process.hrtime.bigint();
  await t.rejects(gzip.decompress(bomb, maxBytes), {
    name: "RpcError",
    code: Code.ResourceExhausted,
    message: /exceeds the limit of 4194304 bytes/,
  });
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().arrayBuffers);
  t.ok(peak - before < 32 * 1024 * 1024, `external memory grew by ${peak - before} bytes, far below 100 MiB`);
  t.comment(`rejected after ${Number(process.hrtime.bigint() - started) / 1e6} ms`);
});
