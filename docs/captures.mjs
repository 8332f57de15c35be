// Regenerates the captures in docs/wire.md from the built server: runs Check and Watch in every protocol
// against a server of ours on a loopback port, records the headers and bodies each call sends and receives
// (the client's trace hook; a plain undici POST for gRPC-Web), and annotates the bodies with
// `triple-health decode --annotate`. Each capture block in wire.md is the fenced block after a marker line
// `<!-- capture: NAME PART -->` (PART: request-headers, request-body, response-headers, response-body); the
// prose around the blocks is left alone.
//
//   npm run docs:captures                       build, then rewrite docs/wire.md
//   node docs/captures.mjs --check              exit 1, naming the blocks, when wire.md differs
//   node docs/captures.mjs --print              print the regenerated page on stdout
//   node docs/captures.mjs --dist DIR ...       use a build other than dist/ (the test builds its own)
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { request } from "undici";

const pagePath = fileURLToPath(new URL("wire.md", import.meta.url));

/** The hex form `decode` reads: 16 bytes a line. */
function hex(bytes) {
  const lines = [];
  for (let i = 0; i < bytes.length; i += 16) {
    lines.push([...bytes.subarray(i, i + 16)].map((b) => b.toString(16).padStart(2, "0")).join(" "));
  }
  return lines.join("\n");
}

/** Header lines as the page shows them: `name: value`, `date` left out (it changes every run). */
function headerLines(headers) {
  return Object.entries(headers)
    .filter(([name, value]) => name !== "date" && value !== undefined)
    .map(([name, value]) => `${name}: ${Array.isArray(value) ? value.join(", ") : String(value)}`);
}

/** `triple-health decode --annotate` of one body, run as the bin of the build under test. */
function annotate(dist, bytes, framing) {
  if (bytes.length === 0) return Promise.resolve("# (empty body)\n");
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [`${dist}/cli/main.js`, "decode", "--annotate", "--format", "hex", "--framing", framing],
      { stdio: ["pipe", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (text) => {
      stdout += text;
    });
    child.stderr.setEncoding("utf8").on("data", (text) => {
      stderr += text;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`decode --annotate exited ${code}: ${stderr}`));
    });
    child.stdin.end(hex(bytes));
  });
}

/** One call through the health client, with what its trace hook saw. */
async function traced(api, url, options, run) {
  const events = [];
  const client = api.createHealthClient(url, { ...options, trace: (event) => events.push(event) });
  try {
    await run(client);
  } catch {
    // an error answer is part of what is captured
  }
  await client.close();
  const of = (type) => events.find((event) => event.type === type);
  const response = of("response");
  const trailers = of("trailers")?.trailers;
  return {
    requestHeaders: of("request").headers,
    requestBody: of("request-body").bytes,
    responseHeaders: response.headers,
    // Trailers-Only: the trace reports the one HEADERS frame as both; the page shows it once.
    trailers: trailers === undefined || trailers === response.headers ? undefined : trailers,
    responseBody: Buffer.concat(events.filter((event) => event.type === "response-body").map((e) => e.bytes)),
  };
}

/** Watch until the server closes: the current status, then the server is closed under the stream. */
async function watchUntilClose(api, options) {
  const server = api.createTripleServer();
  await server.listen(0, "127.0.0.1");
  server.health.set("greet.GreetService", api.ServingStatus.Serving);
  const call = await traced(api, `http://127.0.0.1:${server.port}`, options, async (client) => {
    let messages = 0;
    for await (const _ of client.watch("greet.GreetService", { timeoutMs: 5000 })) {
      if (++messages === 1) void server.close({ graceMs: 200 });
    }
  });
  await server.close();
  return call;
}

/** gRPC-Web: no client here speaks it, so a plain HTTP/1.1 POST of one envelope. */
async function grpcWebCheck(url) {
  const requestHeaders = { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" };
  const name = Buffer.from("greet.GreetService");
  const requestBody = Buffer.from([0, 0, 0, 0, name.length + 2, 0x0a, name.length, ...name]);
  const response = await request(`${url}/grpc.health.v1.Health/Check`, {
    method: "POST",
    headers: requestHeaders,
    body: requestBody,
  });
  const responseBody = Buffer.from(await response.body.arrayBuffer());
  return {
    requestHeaders,
    requestBody,
    responseHeaders: response.headers,
    trailers: undefined,
    responseBody,
  };
}

/** Every capture the page shows, by name: the calls, each with the framing its bodies use. */
async function captureAll(api) {
  const server = api.createTripleServer();
  await server.listen(0, "127.0.0.1");
  server.health.set("greet.GreetService", api.ServingStatus.Serving);
  const url = `http://127.0.0.1:${server.port}`;
  const h1json = { protocol: "triple", codec: "json", httpVersion: "1.1" };
  try {
    return {
      "grpc-check": [
        "envelopes",
        await traced(api, url, { protocol: "grpc" }, (c) => c.check("greet.GreetService")),
      ],
      "grpc-check-not-found": [
        "envelopes",
        await traced(api, url, { protocol: "grpc" }, (c) => c.check("no.Such")),
      ],
      "grpc-watch": ["envelopes", await watchUntilClose(api, { protocol: "grpc" })],
      "triple-check-proto": [
        "unary",
        await traced(api, url, { protocol: "triple" }, (c) => c.check("greet.GreetService")),
      ],
      "triple-check-json": ["unary", await traced(api, url, h1json, (c) => c.check("greet.GreetService"))],
      "triple-check-not-found": ["unary", await traced(api, url, h1json, (c) => c.check("no.Such"))],
      "triple-watch-proto": ["envelopes", await watchUntilClose(api, { protocol: "triple" })],
      "triple-watch-json": ["envelopes", await watchUntilClose(api, { protocol: "triple", codec: "json" })],
      "grpc-web-check": ["envelopes", await grpcWebCheck(url)],
    };
  } finally {
    await server.close({ graceMs: 100 });
  }
}

/** The text of every capture block, keyed `NAME PART`. */
export async function renderCaptures(dist) {
  const api = await import(pathToFileURL(`${dist}/index.js`).href);
  const blocks = new Map();
  for (const [name, [framing, call]] of Object.entries(await captureAll(api))) {
    const response = headerLines(call.responseHeaders);
    if (call.trailers !== undefined) response.push("trailers:", ...headerLines(call.trailers));
    blocks.set(`${name} request-headers`, `${headerLines(call.requestHeaders).join("\n")}\n`);
    blocks.set(`${name} request-body`, await annotate(dist, call.requestBody, framing));
    blocks.set(`${name} response-headers`, `${response.join("\n")}\n`);
    blocks.set(`${name} response-body`, await annotate(dist, call.responseBody, framing));
  }
  return blocks;
}

const marker = /^<!-- capture: (\S+ \S+) -->\n```text\n[\s\S]*?^```$/gm;

/** The page with every marked block replaced; throws on a marker naming no capture. */
export function rewritePage(page, blocks) {
  return page.replace(marker, (_, key) => {
    const text = blocks.get(key);
    if (text === undefined) throw new Error(`docs/wire.md: no capture named "${key}"`);
    return `<!-- capture: ${key} -->\n\`\`\`text\n${text}\`\`\``;
  });
}

/** The keys of the marked blocks whose text differs between two versions of the page. */
export function changedBlocks(before, after) {
  const keyed = (page) => new Map([...page.matchAll(marker)].map((match) => [match[1], match[0]]));
  const old = keyed(before);
  return [...keyed(after)].filter(([key, block]) => old.get(key) !== block).map(([key]) => key);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      dist: { type: "string", default: fileURLToPath(new URL("../dist", import.meta.url)) },
      write: { type: "boolean", default: false },
      check: { type: "boolean", default: false },
      print: { type: "boolean", default: false },
    },
  });
  const page = readFileSync(pagePath, "utf8");
  const next = rewritePage(page, await renderCaptures(values.dist));
  if (values.print) process.stdout.write(next);
  if (values.write) {
    writeFileSync(pagePath, next);
    console.error(`docs/wire.md: ${changedBlocks(page, next).length} capture blocks changed`);
  }
  if (values.check && next !== page) {
    console.error(
      `docs/wire.md is out of date (${changedBlocks(page, next).join(", ")}): run npm run docs:captures`,
    );
    process.exitCode = 1;
  }
}
