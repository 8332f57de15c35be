import http2 from "node:http2";
import { setTimeout as sleep } from "node:timers/promises";
import t from "tap";
import { createHealthClient } from "../../src/client/health-client.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { grpcHeaders } from "../fixtures/h2-request.ts";
import { checkRequestBytes, envelope, startProbeServer } from "./fixtures/helpers.ts";

// grpc-timeout can say 99999999H (11,000 years); a timer cannot hold more than 2^31 - 1 ms and Node fires
// an overflowing one after 1 ms, which would end the longest deadlines at once with DEADLINE_EXCEEDED.
t.test("deadlines longer than a timer can hold are no deadline, not an instant one", async (t) => {
  const { server, url } = await startProbeServer(t);

  const session = http2.connect(url);
  t.teardown(() => session.close());
  const stream = session.request(
    grpcHeaders("/grpc.health.v1.Health/Watch", { "grpc-timeout": "99999999H" }),
  );
  let trailers: http2.IncomingHttpHeaders | undefined;
  stream.on("trailers", (received) => {
    trailers = received;
  });
  const first = new Promise<Buffer>((resolve) => stream.once("data", resolve));
  stream.end(envelope(checkRequestBytes("")));
  t.same(await first, envelope(Buffer.from([8, 1])), "the current status at once");
  await sleep(100);
  t.equal(trailers, undefined, "the Watch is still open");
  t.notOk(stream.closed);
  stream.close(http2.constants.NGHTTP2_CANCEL);

  const client = createHealthClient(url, { timeoutMs: 1e13 });
  t.teardown(() => client.close());
  const statuses = client.watch("", { timeoutMs: 1e13 });
  t.equal((await statuses.next()).value, ServingStatus.Serving);
  await sleep(100);
  server.health.set("", ServingStatus.NotServing);
  t.equal((await statuses.next()).value, ServingStatus.NotServing, "the client keeps it open too");
  await statuses.return?.(undefined);
});
