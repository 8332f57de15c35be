// docs/wire.md shows real bytes: every capture block must be what docs/captures.mjs records from the server
// now. When this fails, the server's wire behaviour changed: run `npm run docs:captures`, read the diff, and
// fix the prose around the blocks if it no longer matches.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { runNode } from "../fixtures/node-process.ts";
import { builtPackage, root } from "../package/fixtures/build.ts";

t.test("docs/wire.md's captures are what the server sends now", async (t) => {
  const { dist, fresh } = await builtPackage(t);
  t.comment(fresh ? "built the sources into a temporary dist/" : "using dist/ (newer than src/)");
  const run = await runNode(["docs/captures.mjs", "--print", "--dist", dist], {
    cwd: root,
    loader: false,
    killAfterMs: 60_000,
  });
  t.equal(run.code, 0, "captures.mjs ran", { stderr: run.stderr });
  const page = readFileSync(join(root, "docs/wire.md"), "utf8");
  t.equal(run.stdout.match(/^<!-- capture: /gm)?.length, 29, "every capture block is generated");
  t.equal(run.stdout, page, "docs/wire.md is current (npm run docs:captures rewrites it)");
});

t.test("the Watch captures end with UNAVAILABLE when the server closes", async (t) => {
  const page = readFileSync(join(root, "docs/wire.md"), "utf8");
  const block = (key: string) =>
    page.match(new RegExp(`<!-- capture: ${key} -->\\n\`\`\`text\\n([\\s\\S]*?)\`\`\``))?.[1] ?? "";
  t.match(block("grpc-watch response-headers"), /^grpc-status: 14$/m);
  t.match(block("triple-watch-proto response-body"), /end-stream \{"error":\{"code":"unavailable"/);
  t.match(block("triple-watch-json response-body"), /end-stream \{"error":\{"code":"unavailable"/);
});
