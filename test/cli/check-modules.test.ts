// `check` runs every few seconds in every pod as an exec probe: it loads only what it needs. Neither
// protobufjs (the health messages have a codec of their own) nor undici (HTTP/1.1, only for -http1).
import t from "tap";
import { runNode } from "../fixtures/node-process.ts";

const script = "test/cli/fixtures/loaded-packages.ts";

t.test("check over HTTP/2 loads neither protobufjs nor undici", async (t) => {
  const run = await runNode([script, "check", "-addr", "127.0.0.1:1"]);
  t.match(run.stdout, /^loaded: none\nexit: 2\n$/m);
  t.match(run.stderr, /failed to connect service/);
});

t.test("check -http1 loads undici, still not protobufjs", async (t) => {
  const run = await runNode([script, "check", "-addr", "127.0.0.1:1", "-protocol", "triple", "-http1"]);
  t.match(run.stdout, /^loaded: undici\nexit: 2\n$/m);
});
