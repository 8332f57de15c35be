// The package's version, for `--version`: read from package.json next to the build, so src/ (tests) and
// dist/ (the installed bin) both find it two directories up.
import { createRequire } from "node:module";

let cached: string | undefined;

/** package.json's `version`. @internal */
export function packageVersion(): string {
  cached ??= (createRequire(import.meta.url)("../../package.json") as { version: string }).version;
  return cached;
}
