import http from "node:http";
import http2 from "node:http2";
import t from "tap";
import { parseContentType } from "../../src/protocol/content-type.ts";
import { checkRawBinaryHeaders, readRequestHead } from "../../src/protocol/request-head.ts";
import { Code } from "../../src/wire/code.ts";

t.test("checkRawBinaryHeaders: every -bin value in a raw header list must be base64", async (t) => {
  t.doesNotThrow(() =>
    checkRawBinaryHeaders([":path", "/x", "a-bin", "AAEC", "b", "!!", "bin", "!!", "x-bi", "!!"]),
  );
  t.doesNotThrow(() => checkRawBinaryHeaders(["A-Bin", "AQ==, Ag", "a-bin", "AAEC"]), "names in any case");
  t.throws(() => checkRawBinaryHeaders(["a-bin", "AAEC", "a-bin", "not base64!"]), { code: Code.Internal });
  t.throws(() => checkRawBinaryHeaders(["X-Trace-BIN", "AAEC, ***"]), {
    code: Code.Internal,
    message: /x-trace-bin/,
  });
  t.doesNotThrow(() => checkRawBinaryHeaders(["odd-bin"]), "a name without a value is left alone");
});

t.test("readRequestHead checks the raw list when it has one, else the header object", async (t) => {
  const grpc = parseContentType("application/grpc")!;
  t.throws(() => readRequestHead(grpc, {}, ["x-bin", "!!"]), { code: Code.Internal });
  t.doesNotThrow(() => readRequestHead(grpc, { "x-bin": "!!" }, ["x-bin", "AA"]), "the raw list wins");
  t.throws(() => readRequestHead(grpc, { "x-bin": "!!" }), { code: Code.Internal });
});

// What node:http and node:http2 really hand over: the raw list holds every header, in order.
t.test("node's raw header lists carry the -bin headers", async (t) => {
  const h2 = http2.createServer();
  const seen2 = new Promise<string[]>((resolve) =>
    h2.on("stream", (stream: http2.ServerHttp2Stream, _headers: unknown, _flags: number, raw: string[]) => {
      resolve(raw);
      stream.respond();
      stream.end();
    }),
  );
  await new Promise<void>((resolve) => h2.listen(0, "127.0.0.1", resolve));
  const client = http2.connect(`http://127.0.0.1:${(h2.address() as { port: number }).port}`);
  const request = client.request({ ":method": "POST", "trace-bin": "AAEC" });
  request.end();
  request.resume();
  const raw2 = await seen2;
  t.ok(raw2.includes("trace-bin"), "HTTP/2: the -bin header is in the list");
  t.throws(() => checkRawBinaryHeaders(raw2.map((item) => (item === "AAEC" ? "!!" : item))));
  client.close();
  await new Promise((resolve) => h2.close(resolve));

  const h1 = http.createServer((req, res) => {
    seen1Resolve(req.rawHeaders);
    res.end();
  });
  let seen1Resolve: (raw: string[]) => void = () => {};
  const seen1 = new Promise<string[]>((resolve) => {
    seen1Resolve = resolve;
  });
  await new Promise<void>((resolve) => h1.listen(0, "127.0.0.1", resolve));
  const done = new Promise((resolve) =>
    http
      .request(
        {
          port: (h1.address() as { port: number }).port,
          host: "127.0.0.1",
          method: "POST",
          headers: { "Trace-Bin": "!!" },
        },
        (res) => {
          res.resume();
          res.on("end", resolve);
        },
      )
      .end(),
  );
  const raw1 = await seen1;
  t.ok(raw1.includes("Trace-Bin"), "HTTP/1.1 keeps the name's case");
  t.throws(() => checkRawBinaryHeaders(raw1), { code: Code.Internal });
  await done;
  await new Promise((resolve) => h1.close(resolve));
});
