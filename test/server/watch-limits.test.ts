import http2 from "node:http2";
import net from "node:net";
import * as grpc from "@grpc/grpc-js";
import t from "tap";
import { HealthRegistry } from "../../src/health/registry.ts";
import { GrpcHealthClient, type GrpcHealthStub } from "../fixtures/grpc-health.ts";
import { grpcHeaders } from "../fixtures/h2-request.ts";
import { checkRequestBytes, envelope, startProbeServer, until } from "./fixtures/helpers.ts";

interface OpenWatch {
  stream: http2.ClientHttp2Stream;
  status: () => string | undefined;
  messages: () => number;
}

/** An HTTP/2 session whose TCP connection comes from `localAddress` (another client, as the server sees it). */
function connectFrom(url: string, localAddress: string): http2.ClientHttp2Session {
  const { hostname, port } = new URL(url);
  return http2.connect(url, {
    createConnection: () => net.connect({ host: hostname, port: Number(port), localAddress }),
  });
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

t.test(
  "Watch streams per client address: one address cannot take every slot; another still gets one",
  async (t) => {
    // maxWatchers 40: the default share is half, 20 per address (an IPv6 client counts by its /64).
    const { server, url } = await startProbeServer(t, { health: new HealthRegistry({ maxWatchers: 40 }) });
    const attacker = [http2.connect(url), http2.connect(url), http2.connect(url)];
    const other = connectFrom(url, "127.0.0.2");
    const address = new URL(url).host;
    const client = new GrpcHealthClient(
      address,
      grpc.credentials.createInsecure(),
    ) as unknown as GrpcHealthStub;
    t.teardown(() => {
      for (const session of [...attacker, other]) session.destroy();
      client.close();
    });

    // 30 streams over three connections, 10 each: within the per-connection limit, past the address's share.
    const flood = attacker.flatMap((session) => Array.from({ length: 10 }, () => openWatch(session)));
    await until(() => flood.every((w) => w.messages() === 1 || w.status() !== undefined));
    t.equal(flood.filter((w) => w.messages() === 1).length, 20, "20 watch");
    t.same(
      flood.filter((w) => w.status() !== undefined).map((w) => w.status()),
      Array(10).fill("8"),
      "the other 10 RESOURCE_EXHAUSTED",
    );
    t.equal(server.health.watcherCount, 20, "one address holds half the slots, no more");

    // grpc-js from the same address: refused, with the reason.
    const refused = await new Promise<grpc.ServiceError>((resolve) => {
      const call = client.watch({ service: "" });
      call.on("data", () => {});
      call.on("error", resolve);
    });
    t.equal(refused.code, grpc.status.RESOURCE_EXHAUSTED);
    t.match(refused.details, "too many Watch streams from one client address (limit 20)");

    // Another address still gets its Watch, and hears a flip.
    const elsewhere = openWatch(other);
    await until(() => elsewhere.messages() === 1);
    t.equal(elsewhere.status(), undefined);
    server.health.set("", 2);
    await until(() => elsewhere.messages() === 2);

    // A stream the attacker ends gives its address the slot back: grpc-js's Watch now runs.
    flood.find((w) => w.messages() > 0)!.stream.close(http2.constants.NGHTTP2_CANCEL);
    await until(() => server.health.watcherCount === 20);
    const statuses: string[] = [];
    const call = client.watch({ service: "" });
    call.on("data", (message: { status: string }) => statuses.push(message.status));
    call.on("error", () => {});
    await until(() => statuses.length === 1);
    t.same(statuses, ["NOT_SERVING"]);
    call.cancel();
  },
);
