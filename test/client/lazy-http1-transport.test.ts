// The HTTP/1.1 transport behind a lazy import: nothing loaded until used, the same answers once it is.
import t from "tap";
import { LazyHttp1Transport } from "../../src/client/lazy-http1-transport.ts";
import { Code } from "../../src/wire/code.ts";
import { RpcError } from "../../src/wire/rpc-error.ts";
import { startServer } from "../fixtures/start-server.ts";

t.test("closed before first use: calls fail UNAVAILABLE, close is idempotent", async (t) => {
  const transport = new LazyHttp1Transport(new URL("http://127.0.0.1:1"));
  t.equal(transport.httpVersion, "1.1");
  t.equal(transport.origin, "http://127.0.0.1:1");
  await transport.close();
  await transport.close();
  const failed = await transport
    .request({ path: "/x", headers: {}, body: Buffer.alloc(0), signal: new AbortController().signal })
    .then(
      () => undefined,
      (error: unknown) => error,
    );
  t.ok(failed instanceof RpcError && failed.code === Code.Unavailable, "UNAVAILABLE", {
    failed: String(failed),
  });
  await t.rejects(transport.connect(), RpcError);
});

t.test("used: connects and calls through undici, then closes", async (t) => {
  const { port } = await startServer(t);
  const transport = new LazyHttp1Transport(new URL(`http://127.0.0.1:${port}`));
  await transport.connect();
  const response = await transport.request({
    path: "/grpc.health.v1.Health/Check",
    headers: { "content-type": "application/json" },
    body: Buffer.from("{}"),
    signal: new AbortController().signal,
  });
  t.equal(response.status, 200);
  for await (const _ of response.body) {
    // drained
  }
  await transport.close();
});
