import t from "tap";
import { ErrorCode, ZooKeeperError } from "../../../src/discovery/zookeeper/errors.ts";
import {
  defaultMaxPacketBytes,
  encodeFrame,
  FrameDecoder,
  maxRequestBytes,
} from "../../../src/discovery/zookeeper/framing.ts";
import { hex, splits } from "../../wire/fixtures/decode.ts";

function decodeAll(chunks: Buffer[], max?: number): { packets: string[]; error?: unknown; buffered: number } {
  const decoder = new FrameDecoder(max);
  const packets: string[] = [];
  try {
    for (const chunk of chunks)
      for (const packet of decoder.push(chunk)) packets.push(packet.toString("hex"));
  } catch (error) {
    return { packets, error, buffered: decoder.bufferedBytes };
  }
  return { packets, buffered: decoder.bufferedBytes };
}

t.test("limits", async (t) => {
  t.equal(defaultMaxPacketBytes, 4 * 1024 * 1024);
  t.equal(maxRequestBytes, 0xfffff, "the server's default jute.maxbuffer");
});

t.test("encodeFrame puts the 4-byte big-endian length first", async (t) => {
  t.equal(encodeFrame(hex("fffffffe 0000000b")).toString("hex"), "00000008fffffffe0000000b", "a ping");
  t.equal(encodeFrame(new Uint8Array(0)).toString("hex"), "00000000");
});

t.test("three packets, split at every offset and byte by byte", async (t) => {
  // A ping reply (xid -2, zxid 5, err 0), an empty packet, a 20-byte reply header with a body.
  const stream = Buffer.concat([
    encodeFrame(hex("fffffffe 0000000000000005 00000000")),
    encodeFrame(new Uint8Array(0)),
    encodeFrame(hex("00000001 0000000000000006 00000000 00000002 2f61")),
  ]);
  const expected = ["fffffffe000000000000000500000000", "", "00000001000000000000000600000000000000022f61"];
  let count = 0;
  for (const { name, chunks } of splits(stream)) {
    const result = decodeAll(chunks);
    t.same(result.packets, expected, name);
    t.equal(result.error, undefined, `${name}: no error`);
    t.equal(result.buffered, 0, `${name}: nothing held after the last packet`);
    count++;
  }
  t.equal(count, stream.length + 1, "whole, every split, byte by byte");
});

t.test("empty chunks and a packet across three chunks", async (t) => {
  const decoder = new FrameDecoder();
  t.same(decoder.push(Buffer.alloc(0)), []);
  t.same(decoder.push(hex("00")), []);
  t.same(decoder.push(hex("000004 0102")), []);
  t.equal(decoder.bufferedBytes, 2, "holds the first bytes of the packet");
  const [packet] = decoder.push(hex("0304 00"));
  t.equal(packet!.toString("hex"), "01020304");
  t.equal(decoder.bufferedBytes, 1, "keeps the next packet's first byte");
});

t.test("a length prefix over the limit is an error before any byte is kept", async (t) => {
  for (const { name, chunks } of splits(hex("00400001 00"))) {
    const result = decodeAll(chunks);
    t.ok(result.error instanceof ZooKeeperError, name);
    t.equal((result.error as ZooKeeperError).code, ErrorCode.MARSHALLINGERROR);
    t.match((result.error as Error).message, /packet length 4194305 is over the limit of 4194304 bytes/);
    t.ok(result.buffered <= 5, `${name}: at most the chunk held`);
  }
  const custom = decodeAll([hex("00000011")], 16);
  t.match((custom.error as Error).message, /packet length 17 is over the limit of 16/);
  const exact = decodeAll([hex("00000002 abcd")], 2);
  t.same(exact.packets, ["abcd"], "a packet of exactly the limit is read");
});

t.test("a 4 GiB length prefix (negative as int32) is refused", async (t) => {
  const result = decodeAll([hex("ffffffff")]);
  t.match((result.error as Error).message, /packet length -1 is over the limit/);
});

t.test("memory stays bounded for a peer announcing the maximum and trickling bytes", async (t) => {
  const decoder = new FrameDecoder(1024);
  decoder.push(hex("00000400"));
  for (let i = 0; i < 1023; i++) decoder.push(Buffer.alloc(1));
  t.equal(decoder.bufferedBytes, 1023, "only the bytes received are held");
  const [packet] = decoder.push(Buffer.alloc(1));
  t.equal(packet!.length, 1024);
  t.equal(decoder.bufferedBytes, 0);
});
