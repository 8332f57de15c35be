// After `tsc -p tsconfig.build.json`: a CommonJS copy of every declaration file (`x.d.ts` → `x.d.cts`, relative
// imports `./y.js` → `./y.cjs`), for the `require` condition of package.json's exports. The JavaScript stays ES
// modules, which Node ≥ 20.19 loads with require(); but TypeScript before 5.8 refuses a CommonJS file's import of
// ES-module declarations (TS1479), and these are the same declarations read as CommonJS, so a CommonJS project
// type-checks on the oldest TypeScript the README names. `node scripts/cjs-types.mjs [dist]`.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const dist = process.argv[2] ?? "dist";
const relative = /(["'])(\.{1,2}\/[^"'\n]*?)\.(js|ts)\1/g;
let count = 0;
for (const file of readdirSync(dist, { recursive: true }).map(String)) {
  if (!file.endsWith(".d.ts")) continue;
  const text = readFileSync(join(dist, file), "utf8");
  writeFileSync(join(dist, `${file.slice(0, -".d.ts".length)}.d.cts`), text.replace(relative, "$1$2.c$3$1"));
  count++;
}
if (count === 0) {
  process.stderr.write(`cjs-types: no .d.ts under ${dist} (run tsc first)\n`);
  process.exitCode = 1;
}
