import http2 from "node:http2";
import t from "tap";
import { grpcHeaders } from "../fixtures/h2-request.ts";
import { checkRequestBytes, envelope, startProbeServer, until } from "./fixtures/helpers.ts";

interface OpenWatch {
  stream: http2.ClientHttp2Stream;
  status: () => string | undefined;
  messages: () => number;
}

function openWatch(session: http2.ClientHttp2Session): OpenWatch {
  const stream = session.request(grpcHeaders("/grpc.health.v1.Health/Watch"));
  let status: string | undefined;
  let messages = 0;
  stream.on("response", (headers) => {
    if (headers["grpc-status"] !== undefined) status = String(headers["grpc-status"]);
  });
  stream.on("trailers", (trailers) => {
    status = String(trailers["grpc-status"]);
  });
  stream.on("data", () => messages++);
  stream.on("error", () => {});
  stream.end(envelope(checkRequestBytes("")));
  return { stream, status: () => status, messages: () => messages };
}

t.test("Watch streams per connection: the extra one is RESOURCE_EXHAUSTED, others unaffected", async (t) => {
  const { server, url } = await startProbeServer(t, { healthService: { maxWatchersPerConnection: 2 } });
  const first = http2.connect(url);
  const second = http2.connect(url);
  t.teardown(() => {
    first.destroy();
    second.destroy();
  });

  const a = openWatch(first);
  const b = openWatch(first);
  await until(() => a.messages() === 1 && b.messages() === 1);
  const extra = openWatch(first);
  await until(() => extra.status() !== undefined);
  t.equal(extra.status(), "8", "RESOURCE_EXHAUSTED");
  t.equal(extra.messages(), 0);

  const other = openWatch(second);
  await until(() => other.messages() === 1);
  t.equal(server.health.watcherCount, 3, "another connection still gets its own");

  a.stream.close(http2.constants.NGHTTP2_CANCEL);
  await until(() => server.health.watcherCount === 2);
  const again = openWatch(first);
  await until(() => again.messages() === 1);
  t.equal(again.status(), undefined, "a cancelled stream frees its slot on the connection");
});
