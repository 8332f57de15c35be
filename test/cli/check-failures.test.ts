// `triple-health check` as a child process: refused connection 2, rpc timeout 3, bad flag 1.
import t from "tap";
import { startConnectPeer } from "../client/fixtures/peers.ts";
import { startRawH2 } from "../client/fixtures/raw-server.ts";
import { spawnCli } from "../fixtures/run-cli.ts";

t.test("refused 2, timeout 3, bad flag 1", async (t) => {
  const silent = await startRawH2();
  silent.handle("/grpc.health.v1.Health/Check", () => {});
  t.teardown(() => silent.close());
  const peer = await startConnectPeer();
  const refusedAddr = peer.addr;
  await peer.close();

  const refused = await spawnCli(["check", "-addr", refusedAddr]);
  t.equal(refused.code, 2, "refused connection: 2");
  t.match(refused.stderr, `error: failed to connect service at "${refusedAddr}"`);

  const timeout = await spawnCli([
    "check",
    "-addr",
    silent.url.replace("http://", ""),
    "-rpc-timeout",
    "200ms",
  ]);
  t.equal(timeout.code, 3, "rpc timeout: 3");
  t.match(timeout.stderr, "timeout: health rpc did not complete within 200ms");

  const badFlag = await spawnCli(["check", "-addr", refusedAddr, "-no-such-flag"]);
  t.equal(badFlag.code, 1, "bad flag: 1");
  t.match(badFlag.stderr, "flag provided but not defined: -no-such-flag");
});
