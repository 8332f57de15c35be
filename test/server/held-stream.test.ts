// A server stream held open past its handler's return (HoldableStreamCall, what the Watch runs on): the
// stream lives until the call ends, which the holder hears once; write() reports push-back and the
// holder hears when the transport drains; a rejection or an unencodable message still ends the call.
import http2 from "node:http2";
import t from "tap";
import { healthCodecs } from "../../src/codec/health-codecs.ts";
import {
  type HeldStream,
  isHoldable,
  type ServiceMethods,
  type StreamHolder,
} from "../../src/server/service-types.ts";
import { Code } from "../../src/wire/code.ts";
import { RpcError } from "../../src/wire/rpc-error.ts";
import { grpcHeaders, h2exchange } from "../fixtures/h2-request.ts";
import { startServer } from "../fixtures/start-server.ts";
import { checkRequestBytes, envelope, envelopes, statusRefusing99, until } from "./fixtures/helpers.ts";

interface Held {
  ends: number;
  writable: number;
  writesUntilFull: number;
  afterEnd: boolean | undefined;
  metadata: string;
  metadataBefore: string;
}

const held: Held[] = [];

const methods: ServiceMethods = {
  Hold: {
    kind: "server_streaming",
    input: healthCodecs.checkRequest,
    output: statusRefusing99,
    handler(request: { service: string }, call) {
      if (!isHoldable(call)) throw new Error("not holdable");
      const record: Held = {
        ends: 0,
        writable: 0,
        writesUntilFull: 0,
        afterEnd: undefined,
        metadata: "",
        metadataBefore: "",
      };
      held.push(record);
      let stream: HeldStream<object> | undefined;
      const holder: StreamHolder = {
        onWritable() {
          record.writable++;
        },
        onCallEnd() {
          record.ends++;
          record.afterEnd = stream?.write({ status: 1 });
        },
      };
      // The group only: requestMetadata, once read, stays what it was.
      record.metadataBefore = `${call.serviceGroup}`;
      stream = call.hold(holder);
      const spec = request.service;
      record.metadata = `${call.requestMetadata.size}|${call.serviceGroup}`;
      if (spec === "reject") return Promise.reject(new RpcError(Code.DataLoss, "lost after holding"));
      if (spec === "badwrite") {
        stream.write({ status: 99 });
        return undefined;
      }
      if (spec === "flood") {
        // Messages until the stream's buffer (16 KiB by default) pushes back.
        const message = { status: 1 };
        while (record.writesUntilFull < 10_000 && stream.write(message)) record.writesUntilFull++;
        return undefined;
      }
      stream.write({ status: 1 });
      stream.write({ status: 2 });
      return undefined;
    },
  },
};

const { server, url } = await startServer(t);
server.addService("test.Held", methods);
const path = "/test.Held/Hold";

t.beforeEach(() => {
  held.length = 0;
});

t.test(
  "held: the stream stays open after the handler returns, and ends with the call, heard once",
  async (t) => {
    const response = await h2exchange(url, grpcHeaders(path, { "tri-service-group": "g", "x-meta": "1" }), {
      body: envelope(checkRequestBytes("open")),
      timeoutMs: 300,
    });
    t.ok(response.timedOut, "still open when the client gave up (and cancelled)");
    t.same(
      envelopes(response.body).map((e) => [...e.payload]),
      [
        [8, 1],
        [8, 2],
      ],
    );
    t.equal(response.trailers, undefined, "no end of stream");
    await until(() => held[0]?.ends === 1);
    t.equal(held[0]!.afterEnd, false, "write() after the end: false, nothing sent");
    t.equal(held[0]!.metadataBefore, "g", "before hold: the call's group");
    t.equal(held[0]!.metadata, "0|undefined", "the head is let go once held: no metadata, no group");
    t.equal(server.health.watcherCount, 0);
  },
);

t.test("held: a rejected promise still fails the call", async (t) => {
  const response = await h2exchange(url, grpcHeaders(path), { body: envelope(checkRequestBytes("reject")) });
  t.equal(response.grpcStatus, Code.DataLoss);
  t.equal(response.grpcMessage, "lost after holding");
  await until(() => held[0]?.ends === 1);
});

t.test("held: a message that cannot be encoded ends the call INTERNAL", async (t) => {
  const response = await h2exchange(url, grpcHeaders(path), {
    body: envelope(checkRequestBytes("badwrite")),
  });
  t.equal(response.grpcStatus, Code.Internal);
  t.match(response.grpcMessage, /cannot encode the response: cannot encode 99/);
  await until(() => held[0]?.ends === 1);
});

t.test("held: write() reports push-back; the holder hears when the client reads again", async (t) => {
  const session = http2.connect(url, { settings: { initialWindowSize: 16 } });
  t.teardown(() => session.destroy());
  const stream = session.request(grpcHeaders(path));
  stream.pause();
  stream.end(envelope(checkRequestBytes("flood")));
  await until(() => held.length === 1);
  const record = held[0]!;
  t.ok(record.writesUntilFull < 10_000, `pushed back after ${record.writesUntilFull} messages`);
  t.equal(record.writable, 0, "not writable while the client does not read");
  stream.resume();
  stream.on("data", () => {});
  await until(() => record.writable === 1, 5000);
  t.pass("onWritable once the queue drained");
  stream.close(http2.constants.NGHTTP2_CANCEL);
  await until(() => record.ends === 1);
});
