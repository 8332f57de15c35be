// Hardening II: the admin surface as an attacker meets it. Run against `serve --sample --admin` in a child
// process, since what is tested is that the process survives.
import t from "tap";
import { h2once } from "../fixtures/h2-request.ts";
import { startCli } from "../fixtures/run-cli.ts";
import { grpcCheck, h1request } from "./fixtures/attack.ts";

// Names every plain object inherits: an admin route table that is a plain object finds these.
const inheritedNames = ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf"];

t.test("item 1: GET /admin/<inherited property name> is a 404 over both HTTP versions", async (t) => {
  const child = startCli(t, ["serve", "--sample", "--admin"], { env: { ...process.env, PORT: "0" } });
  const port = Number((await child.line(/on http:\/\/127\.0\.0\.1:(\d+)/))[1]);
  for (const name of inheritedNames) {
    for (const method of ["GET", "POST"]) {
      const h1 = await h1request(port, { method, path: `/admin/${name}` });
      t.equal(h1.status, 404, `HTTP/1.1 ${method} /admin/${name}: 404`);
      t.same(h1.json, { error: "no such admin endpoint" });
      const h2 = await h2once(port, { ":method": method, ":path": `/admin/${name}` });
      t.equal(h2.status, 404, `HTTP/2 ${method} /admin/${name}: 404`);
    }
  }
  t.equal(child.child.exitCode, null, "the server is still running");
  t.equal(await grpcCheck(port), 1, "and answers a Check: SERVING");
  const health = await h1request(port, { method: "GET", path: "/admin/health" });
  t.equal(health.status, 200, "the real routes still answer");
  t.equal(await child.stop("SIGTERM"), 0, "exits 0 on SIGTERM");
  t.notMatch(child.stderr, /Unhandled|TypeError/, "nothing escaped");
});
