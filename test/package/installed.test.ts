// The package as users install it. A copy of the sources as a fresh clone has them (no dist/) is packed
// with `npm pack` (prepack builds), the tarball is installed into a new project, and then: the bin through
// node_modules/.bin returns every exit code of the README's table, the package loads with import and with
// require (Node's require(esm)), an ES-module project on the repository's TypeScript and a CommonJS one on the
// oldest TypeScript the README names (5.4, with @types/node 20) compile against the installed types under
// `strict` with `skipLibCheck: false` and run a Check, every document the README links is in the package, and
// the README's TypeScript snippets type-check under `strict` against the installed types, the embedding one
// also running. Everything lives in one temporary folder, removed
// after; every child process is killed with the test.
import { execFile } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { createHealthClient } from "../../src/client/health-client.ts";
import { ServingStatus } from "../../src/codec/health-types.ts";
import { Code } from "../../src/wire/code.ts";
import { RpcError } from "../../src/wire/rpc-error.ts";
import { runNode, startNode } from "../fixtures/node-process.ts";
import { unusedPort } from "../fixtures/start-server.ts";
import { root, tsc } from "./fixtures/build.ts";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (never rejects: the exit code is part of the answer). */
function run(file: string, args: string[], cwd: string, timeoutMs = 400_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, timeout: timeoutMs, encoding: "utf8" }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The first ```ts block after `heading` in the README. */
function readmeSnippet(heading: string): string {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const at = readme.indexOf(`\n${heading}\n`);
  if (at < 0) throw new Error(`README.md has no heading "${heading}"`);
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  if (block === null) throw new Error(`README.md: no ts block after "${heading}"`);
  return block[1] ?? "";
}

// Packing, two installs and four compiles: minutes on a loaded 2-core machine, more than .taprc's 240 s.
t.setTimeout(900_000);

const work = mkdtempSync(join(tmpdir(), "triple-health-installed-"));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

// A fresh clone, as far as packing goes: the sources and the package's own files, no dist/.
const clone = join(work, "clone");
mkdirSync(clone);
for (const entry of [
  "package.json",
  "tsconfig.json",
  "tsconfig.build.json",
  "README.md",
  "LICENSE",
  "src",
  "proto",
  "scripts",
  "SECURITY.md",
  "docs",
  "bench/README.md",
])
  cpSync(join(root, entry), join(clone, entry), { recursive: true });
symlinkSync(join(root, "node_modules"), join(clone, "node_modules"));
const pack = await run("npm", ["pack", "--pack-destination", work], clone);
const tarball = readdirSync(work).find((name) => name.endsWith(".tgz"));

const app = join(work, "app");
mkdirSync(app);
writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
// protobufjs and undici come from npm's cache when they are there, else from the registry.
const install =
  tarball === undefined
    ? { code: -1, stdout: "", stderr: "no tarball" }
    : await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", join(work, tarball)], app);
const installed = join(app, "node_modules/triple-health");
const bin = join(app, "node_modules/.bin/triple-health");

// The README's snippets against the installed types, strict, in the user's project (the repository's tsc).
const snippets = {
  "readme-server.ts": readmeSnippet("## Library: the server"),
  "readme-embedding.ts": readmeSnippet("### On a server you already run"),
  "readme-client.ts": readmeSnippet("## Health client (library)"),
};
// Only the embedding snippet runs; it listens where the test says, on a port picked just before it runs
// (this file takes minutes: a port picked at the start may be taken by then).
for (const [file, text] of Object.entries(snippets)) writeFileSync(join(app, file), text);
writeFileSync(
  join(app, "tsconfig.json"),
  JSON.stringify({
    compilerOptions: {
      target: "ES2022",
      module: "NodeNext",
      moduleResolution: "NodeNext",
      strict: true,
      noUncheckedIndexedAccess: true,
      types: ["node"],
      typeRoots: [join(root, "node_modules/@types")],
      skipLibCheck: false,
      outDir: "out",
    },
    files: Object.keys(snippets),
  }),
);
// Our server, from the installed package: greet.GreetService SERVING, down.Service NOT_SERVING.
writeFileSync(
  join(app, "server.mjs"),
  `import { createTripleServer, defineService, loadProtoFiles, ServingStatus } from "triple-health";
const server = createTripleServer();
server.addService(
"greet.GreetService",
defineService(loadProtoFiles("greet.proto"), "greet.GreetService", {
  Greet: (request) => ({ greeting: "hello " + request.name }),
}),
);
const { port } = await server.listen(0, "127.0.0.1");
server.health.set("down.Service", ServingStatus.NotServing, "for the exit code test");
console.log("port " + port);
`,
);
// Compiled while the bin tests below run.
const compiling = run(process.execPath, [tsc, "-p", join(app, "tsconfig.json")], app);
t.test("npm pack builds dist/ and the tarball installs", async (t) => {
  t.equal(pack.code, 0, "npm pack", { stderr: pack.stderr.slice(-2000), stdout: pack.stdout.slice(-2000) });
  t.ok(tarball, "a tarball");
  t.equal(install.code, 0, "npm install of the tarball", { stderr: install.stderr.slice(-2000) });
  t.ok(existsSync(join(installed, "dist/index.js")), "dist/ is in the package");
  t.ok(existsSync(join(installed, "dist/index.d.ts")), "with its types");
  t.ok(existsSync(join(installed, "LICENSE")), "LICENSE");
  t.match(readFileSync(join(installed, "LICENSE"), "utf8"), /Apache License\s+Version 2\.0, January 2004/);
  t.ok(existsSync(join(installed, "proto/health.proto")), "proto/");
  const files = readdirSync(join(installed, "dist"), { recursive: true }).map(String);
  t.same(
    files.filter((file) => file.endsWith(".map")),
    [],
    "no source maps (src/ is not shipped)",
  );
  t.notOk(existsSync(join(installed, "src")), "no src/");
  const manifest = JSON.parse(readFileSync(join(installed, "package.json"), "utf8")) as {
    engines: { node: string };
    license: string;
  };
  t.equal(
    manifest.engines.node,
    "^20.19.0 || ^22.12.0 || >=24.0.0",
    "engines: require(esm) without a flag (22.12 on the 22 line; undici 7 needs 20.18.1)",
  );
  t.equal(manifest.license, "Apache-2.0");
});

t.test("the bin in node_modules/.bin returns every exit code of the README's table", async (t) => {
  const help = await run(bin, ["--help"], app);
  t.equal(help.code, 0, "--help exits 0");
  t.match(help.stdout, /usage: triple-health/, "--help prints the usage");

  const closed = await unusedPort();
  const refused = await run(bin, ["check", "-addr", `127.0.0.1:${closed}`, "-connect-timeout", "2s"], app);
  t.equal(refused.code, 2, "2: connection failed (a closed port)", { stderr: refused.stderr });

  const bad = await run(bin, ["check", "-no-such-flag"], app);
  t.equal(bad.code, 1, "1: invalid arguments", { stderr: bad.stderr });

  const server = startNode(t, [join(app, "server.mjs")], { cwd: app, loader: false });
  const port = (await server.line(/^port (\d+)$/))[1];
  const check = (service: string) =>
    run(bin, ["check", "-addr", `127.0.0.1:${port}`, "-service", service, "-rpc-timeout", "5s"], app);

  const serving = await check("greet.GreetService");
  t.equal(serving.code, 0, "0: SERVING", { stderr: serving.stderr });
  t.equal(serving.stdout, "status: SERVING\n");
  const unknown = await check("no.Such");
  t.equal(unknown.code, 3, "3: the RPC failed (NOT_FOUND)", { stderr: unknown.stderr });
  t.match(unknown.stderr, /NOT_FOUND/);
  const down = await check("down.Service");
  t.equal(down.code, 4, "4: not SERVING", { stderr: down.stderr });
  t.match(down.stdout + down.stderr, /NOT_SERVING/, "the status is named");
  const greet = await runNode([bin, "decode", "--annotate", "--format", "hex"], {
    cwd: app,
    loader: false,
    stdin: "00 00 00 00 02 08 01",
  });
  t.match(greet.stdout, /HealthCheckResponse \{"status":"SERVING"\}/, "decode runs from the package too");
  server.child.kill("SIGTERM");
  await server.exited;
});

t.test("the package loads with import and with require (one module instance)", async (t) => {
  writeFileSync(
    join(app, "imports.mjs"),
    `import * as api from "triple-health";
import * as wire from "triple-health/wire";
import manifest from "triple-health/package.json" with { type: "json" };
import { createRequire } from "node:module";
const required = createRequire(import.meta.url)("triple-health");
console.log(JSON.stringify({
  createTripleServer: typeof api.createTripleServer,
  createHealthClient: typeof api.createHealthClient,
  sameCode: api.Code === wire.Code,
  version: manifest.version,
  sameModule: required.Code === api.Code && required.createHealthClient === api.createHealthClient,
}));
`,
  );
  const imports = await runNode([join(app, "imports.mjs")], { cwd: app, loader: false });
  t.equal(imports.code, 0, "runs", { stderr: imports.stderr });
  const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
  t.same(JSON.parse(imports.stdout), {
    createTripleServer: "function",
    createHealthClient: "function",
    sameCode: true,
    version,
    sameModule: true,
  });
  t.notMatch(imports.stderr, /ExperimentalWarning/, "no warning on this Node");
});

const errorsIn = async (file: string) =>
  (await compiling).stdout
    .split("\n")
    .filter((line) => line.startsWith(file))
    .join("\n");

t.test("the README's client snippet type-checks under strict", async (t) => {
  t.equal(await errorsIn("readme-client.ts"), "", "no type errors");
});

t.test("the README's embedding snippet type-checks under strict", async (t) => {
  t.equal(await errorsIn("readme-embedding.ts"), "", "no type errors");
});

// Handlers whose parameters carry no annotations type-check once they are typed from the service definition.
t.test("the README's server snippet type-checks under strict", async (t) => {
  t.equal(await errorsIn("readme-server.ts"), "", "no type errors");
});

t.test("the README's embedding snippet runs: Check, then a graceful close on SIGTERM", async (t) => {
  await compiling;
  const embeddingPort = await unusedPort();
  const compiled = join(app, "out/readme-embedding.js");
  writeFileSync(compiled, readFileSync(compiled, "utf8").replaceAll("20000", `${embeddingPort}`));
  const server = startNode(t, [compiled], { cwd: app, loader: false });
  await server.line(/^listening on /);
  const check = await run(
    bin,
    ["check", "-addr", `127.0.0.1:${embeddingPort}`, "-service", "greet.GreetService"],
    app,
  );
  t.equal(check.code, 0, "Check: SERVING", { stderr: check.stderr });

  const client = createHealthClient(`http://127.0.0.1:${embeddingPort}`);
  t.teardown(() => client.close());
  const seen: ServingStatus[] = [];
  let ended: unknown;
  const watching = (async () => {
    try {
      for await (const status of client.watch("greet.GreetService")) {
        seen.push(status);
        if (seen.length === 1) server.child.kill("SIGTERM");
      }
    } catch (error) {
      ended = error;
    }
  })();
  await watching;
  t.same(seen, [ServingStatus.Serving, ServingStatus.NotServing], "the Watch sees SERVING, then NOT_SERVING");
  t.ok(ended instanceof RpcError && ended.code === Code.Unavailable, "then ends with UNAVAILABLE", {
    ended: String(ended),
  });
  t.equal(await server.exited, 0, "the process exits 0");
  t.match(server.stderr, /closed/, "installSignalHandlers logged the close");
});

// A user's project of each module kind: its own package.json, tsconfig (strict, skipLibCheck false: the
// package's declarations are checked too) and TypeScript, a program that runs one Check against our server.
const checkProgram = (
  kind: "esm" | "cjs",
) => `import { createHealthClient, ServingStatus } from "triple-health";
import { Code } from "triple-health/wire";

async function main(): Promise<void> {
  const client = createHealthClient(process.argv[2] ?? "");
  try {
    const status: ServingStatus = await client.check("greet.GreetService", { timeoutMs: 5000 });
    console.log(JSON.stringify({ kind: "${kind}", serving: status === ServingStatus.Serving, ok: Code.Ok }));
  } finally {
    await client.close();
  }
}
main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
`;

async function userProject(
  kind: "esm" | "cjs",
  typescript: { tsc: string; typeRoots?: string },
): Promise<{ dir: string; compile: Run }> {
  const dir = join(work, kind);
  mkdirSync(dir);
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name: kind, private: true, type: kind === "esm" ? "module" : "commonjs" }),
  );
  symlinkSync(join(app, "node_modules"), join(dir, "node_modules"));
  writeFileSync(join(dir, "index.ts"), checkProgram(kind));
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: kind === "esm" ? "NodeNext" : "Node16",
        moduleResolution: kind === "esm" ? "NodeNext" : "Node16",
        strict: true,
        skipLibCheck: false,
        types: ["node"],
        ...(typescript.typeRoots === undefined ? {} : { typeRoots: [typescript.typeRoots] }),
        outDir: "out",
      },
      files: ["index.ts"],
    }),
  );
  return { dir, compile: await run(process.execPath, [typescript.tsc, "-p", dir], dir) };
}

// The oldest TypeScript the README names and the @types/node of the oldest supported Node, installed apart
// from the repository's (from npm's cache when there, else the registry).
const oldest = join(work, "ts-oldest");
mkdirSync(oldest);
writeFileSync(join(oldest, "package.json"), JSON.stringify({ name: "ts-oldest", private: true }));
const oldestInstall = await run(
  "npm",
  ["install", "--prefer-offline", "--no-audit", "--no-fund", "typescript@5.4", "@types/node@20"],
  oldest,
);

for (const [kind, typescript, label] of [
  [
    "esm",
    { tsc, typeRoots: join(root, "node_modules/@types") },
    "an ES-module project on the repository's TypeScript",
  ],
  [
    "cjs",
    {
      tsc: join(oldest, "node_modules/typescript/bin/tsc"),
      typeRoots: join(oldest, "node_modules/@types"),
    },
    "a CommonJS project on TypeScript 5.4 and @types/node 20",
  ],
] as const) {
  t.test(`${label}: compiles (strict, skipLibCheck false) and runs a Check`, async (t) => {
    if (kind === "cjs") {
      t.equal(oldestInstall.code, 0, "typescript@5.4 and @types/node@20 install", {
        stderr: oldestInstall.stderr.slice(-2000),
      });
      const version = JSON.parse(
        readFileSync(join(oldest, "node_modules/typescript/package.json"), "utf8"),
      ) as { version: string };
      t.match(version.version, /^5\.4\./, "TypeScript 5.4");
    }
    const { dir, compile } = await userProject(kind, typescript);
    t.equal(compile.code, 0, "tsc", { stdout: compile.stdout.slice(-3000) });
    const emitted = readFileSync(join(dir, "out/index.js"), "utf8");
    if (kind === "cjs") t.match(emitted, /require\("triple-health"\)/, "compiled to require()");
    else t.match(emitted, /from "triple-health"/, "compiled to import");
    const server = startNode(t, [join(app, "server.mjs")], { cwd: app, loader: false });
    const port = (await server.line(/^port (\d+)$/))[1];
    const checked = await runNode([join(dir, "out/index.js"), `http://127.0.0.1:${port}`], {
      cwd: dir,
      loader: false,
    });
    t.equal(checked.code, 0, "runs", { stderr: checked.stderr });
    t.same(JSON.parse(checked.stdout), { kind, serving: true, ok: 0 });
    t.notMatch(checked.stderr, /ExperimentalWarning/, "no warning");
    server.child.kill("SIGTERM");
    await server.exited;
  });
}

t.test("every document the README links is in the package", async (t) => {
  const readme = readFileSync(join(installed, "README.md"), "utf8");
  const links = [...readme.matchAll(/\]\(([^)#]+)(?:#[^)]*)?\)/g)]
    .map((match) => match[1]!)
    .filter((link) => !/^[a-z]+:/i.test(link));
  t.ok(links.length >= 5, "the README links documents", { links });
  for (const link of new Set(links)) t.ok(existsSync(join(installed, link)), link);
});
