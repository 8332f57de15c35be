import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";

/** The `proto/` folder shipped with the package (the same relative path from `src/` and `dist/`). */
export const protoDir = fileURLToPath(new URL("../../proto/", import.meta.url));

/** Loads `.proto` files synchronously (at start-up, never per call). Relative names resolve in `proto/`. */
export function loadProtoFiles(...files: string[]): protobuf.Root {
  const paths = files.map((file) => (file.startsWith("/") ? file : protoDir + file));
  return protobuf.loadSync(paths);
}
