// Hardening II, item 11: header lists over SETTINGS_MAX_HEADER_LIST_SIZE from a client that never
// acknowledges our SETTINGS. node:http2 applies the limit only after the ACK; before it 140 KiB lists were
// answered. Now such a stream gets 431 and the connection goes on serving. Also the header-block
// attacks nghttp2 ends the connection for (CONTINUATION floods, a single field over 64 KiB).
import t from "tap";
import { http2Defaults } from "../../src/server/options.ts";
import { headerListSize } from "../../src/wire/header-list-size.ts";
import { startServer } from "../fixtures/start-server.ts";
import { frame, grpcCheck } from "./fixtures/attack.ts";
import {
  checkBody,
  checkFields,
  FrameType,
  fieldsSize,
  headerFrames,
  hpackBlock,
  RawH2Connection,
} from "./fixtures/raw-h2.ts";

const limit = http2Defaults.maxHeaderListSize; // 64 KiB, as our SETTINGS advertise
const tooLarge = "431 request header fields too large\n";

/** Check fields padded with `x-pad-N` fields of ~4 KiB to exactly `size` (as the limit counts). */
function paddedFields(size: number): [string, string][] {
  const fields = checkFields();
  let left = size - fieldsSize(fields);
  for (let i = 0; left > 0; i++) {
    const name = `x-pad-${i}`;
    const overhead = name.length + 32;
    const value = Math.min(4096, left - overhead);
    if (value < 0) throw new Error("cannot pad to that size");
    fields.push([name, "a".repeat(value)]);
    left -= overhead + value;
  }
  if (fieldsSize(fields) !== size) throw new Error("padding is off");
  return fields;
}

t.test("headerListSize counts name + value + 32 per field", async (t) => {
  t.equal(headerListSize([]), 0);
  t.equal(headerListSize([":path", "/x", "a", "bc"]), 5 + 2 + 32 + 1 + 2 + 32);
});

t.test(
  "before the SETTINGS ACK: over the limit is 431 for that stream, the connection serves on",
  async (t) => {
    const { port } = await startServer(t);
    const connection = await RawH2Connection.open(port, { ack: false });
    t.teardown(() => connection.close());

    // Exactly at the limit: answered as any Check.
    const atLimit = paddedFields(limit);
    await connection.send(Buffer.concat([headerFrames(1, hpackBlock(atLimit)), checkBody(1)]));
    await connection.streamEnd(1);
    t.equal(connection.body(1).subarray(5).toString("hex"), "0801", "a list of exactly 64 KiB: SERVING");

    // One byte over, and the 140 KiB list node answered before (9 frames: nghttp2's CONTINUATION cap allows it).
    let id = 3;
    for (const size of [limit + 1, 100 * 1024, 140 * 1024]) {
      const stream = id;
      id += 2;
      await connection.send(
        Buffer.concat([headerFrames(stream, hpackBlock(paddedFields(size))), checkBody(stream)]),
      );
      const end = await connection.streamEnd(stream);
      t.equal(connection.body(stream).toString(), tooLarge, `${size} bytes: 431 with its body`);
      t.not(end.type, FrameType.rstStream, "answered, not reset");
      t.notOk(
        connection
          .streamFrames(stream)
          .some((f) => f.type === FrameType.data && f.payload.includes(Buffer.from([8]))),
        "and never a Check answer",
      );
    }
    t.same(connection.goAwayCodes(), [], "no GOAWAY");
    t.equal(await connection.check(id), 1, "the same connection answers a Check afterwards: SERVING");
    t.notOk(connection.isClosed, "and is still open");
    t.equal(await grpcCheck(port), 1, "another connection's Check: SERVING");
  },
);

t.test("after the SETTINGS ACK node resets the stream itself; the connection serves on", async (t) => {
  const { port } = await startServer(t);
  const connection = await RawH2Connection.open(port, { ack: true });
  t.teardown(() => connection.close());
  // Give the server the ACK before the request (same socket, in order; a Check round trip settles it).
  t.equal(await connection.check(1), 1);
  await connection.send(Buffer.concat([headerFrames(3, hpackBlock(paddedFields(limit + 1))), checkBody(3)]));
  const end = await connection.streamEnd(3);
  t.equal(end.type, FrameType.rstStream, "RST_STREAM");
  t.equal(end.payload.readUInt32BE(0), 11, "ENHANCE_YOUR_CALM");
  t.equal(await connection.check(5), 1, "the connection answers a Check afterwards");
  t.same(connection.goAwayCodes(), []);
});

t.test("header blocks nghttp2 ends the connection for; other connections are unaffected", async (t) => {
  const { port } = await startServer(t);
  const cases: { what: string; block: Buffer; frameSize?: number; code: number }[] = [
    {
      // CVE-2024-27316 / CVE-2024-28182 family: nghttp2 1.61 allows 8 CONTINUATION frames per block.
      what: "a 150 KiB list in 10 frames (HEADERS + 9 CONTINUATION)",
      block: hpackBlock(paddedFields(150 * 1024)),
      code: 2, // INTERNAL_ERROR
    },
    {
      what: "a small list split into 40 CONTINUATION frames",
      block: hpackBlock(paddedFields(4 * 1024)),
      frameSize: 100,
      code: 2,
    },
    {
      what: "one 70 KiB field (nghttp2's HPACK decoder takes at most 64 KiB per field)",
      block: hpackBlock([...checkFields(), ["x-big", "a".repeat(70 * 1024)]]),
      code: 9, // COMPRESSION_ERROR
    },
  ];
  for (const c of cases) {
    const connection = await RawH2Connection.open(port, { ack: false });
    t.teardown(() => connection.close());
    await connection.send(headerFrames(1, c.block, { frameSize: c.frameSize }));
    await connection.waitFor((f) => f.type === FrameType.goAway);
    t.same(connection.goAwayCodes(), [c.code], `${c.what}: GOAWAY(${c.code})`);
    t.notOk(
      connection.frames.some((f) => f.streamId === 1 && f.type === FrameType.data),
      "the stream was never answered",
    );
    t.equal(await grpcCheck(port), 1, "another connection's Check: SERVING");
  }
});

t.test("an endless CONTINUATION stream (never END_HEADERS) is cut off after a few frames", async (t) => {
  const { port } = await startServer(t);
  const connection = await RawH2Connection.open(port, { ack: false });
  t.teardown(() => connection.close());
  await connection.send(frame(FrameType.headers, 0, 1, hpackBlock(checkFields())));
  const continuation = frame(FrameType.continuation, 0, 1, hpackBlock([["x-c", "b".repeat(64)]]));
  let sent = 0;
  // Two frames at a time, each pair given the time to be answered: how many the server read before it quit.
  while (connection.goAwayCodes().length === 0 && sent < 1000) {
    if (!(await connection.send(Buffer.concat([continuation, continuation])))) break;
    sent += 2;
    await connection.waitFor((f) => f.type === FrameType.goAway, 20).catch(() => undefined);
  }
  await connection.closed;
  t.same(connection.goAwayCodes(), [2], "GOAWAY(INTERNAL_ERROR), connection closed");
  t.ok(sent <= 16, `after ${sent} CONTINUATION frames (nghttp2 allows 8)`);
  t.equal(await grpcCheck(port), 1, "another connection's Check: SERVING");
});
