// The router on its own: Dubbo group/version exports, the lower-case-first method fallback, misses.
import t from "tap";
import { healthCodecs } from "../../src/codec/health-codecs.ts";
import { type PathEntry, Router, selectRoute } from "../../src/server/router.ts";
import type { ServiceMethods, UnaryMethod } from "../../src/server/service-types.ts";
import { ConfigError } from "../../src/wire/config-error.ts";

function unary(tag: string): UnaryMethod {
  return {
    kind: "unary",
    input: healthCodecs.checkRequest,
    output: healthCodecs.checkResponse,
    handler: () => ({ status: tag }),
  } as unknown as UnaryMethod;
}

function methods(...names: string[]): ServiceMethods {
  return Object.fromEntries(names.map((name) => [name, unary(name)]));
}

/** The route a request gets: path lookup, then the group/version pick (headers as node hands them). */
function route(router: Router, path: string, group?: string, version?: string) {
  const entry: PathEntry | undefined = router.find(path);
  if (entry === undefined) return undefined;
  const headers: Record<string, string> = {};
  if (group !== undefined) headers["tri-service-group"] = group;
  if (version !== undefined) headers["tri-service-version"] = version;
  return selectRoute(entry, headers);
}

t.test("a service with only its plain export ignores tri-service-group/-version", async (t) => {
  const router = new Router();
  router.add("greet.GreetService", methods("Greet"));
  const plain = route(router, "/greet.GreetService/Greet");
  t.equal(plain?.method, "Greet");
  t.equal(plain?.group, "");
  t.equal(
    route(router, "/greet.GreetService/Greet", "g1", "1.0.0"),
    plain,
    "headers select nothing (as before)",
  );
  t.equal(
    router.find("/greet.GreetService/Greet")?.keyed,
    undefined,
    "no keyed table: the headers are not read",
  );
});

t.test("exports by group and version: exact pick, no header = the plain export", async (t) => {
  const router = new Router();
  router.add("greet.GreetService", methods("Greet"));
  router.add("greet.GreetService", methods("Greet", "Hello"), { group: "g1", version: "1.0.0" });
  router.add("greet.GreetService", methods("Greet"), { group: "g1" });
  router.add("greet.GreetService", methods("Greet"), { version: "2.0.0" });
  router.add("greet.GreetService", methods("Greet"), { version: "0.0.0" });
  const pick = (group?: string, version?: string, method = "Greet") => {
    const found = route(router, `/greet.GreetService/${method}`, group, version);
    return found === undefined ? undefined : `${found.group}|${found.version}`;
  };
  t.equal(pick(), "|", "no headers: the export without group and version");
  t.equal(pick("", ""), "|", "empty headers are no headers");
  t.equal(pick("g1", "1.0.0"), "g1|1.0.0");
  t.equal(pick("g1"), "g1|");
  t.equal(pick(undefined, "2.0.0"), "|2.0.0");
  t.equal(pick(undefined, "0.0.0"), "|0.0.0", "0.0.0 is a version like any other for routing (as dubbo-go)");
  t.equal(pick("g1", "2.0.0"), undefined, "an unknown group/version pair");
  t.equal(pick("g2"), undefined, "an unknown group");
  t.equal(pick(undefined, "9"), undefined, "an unknown version");
  t.equal(pick("G1", "1.0.0"), undefined, "groups are matched exactly (case too)");
  t.equal(pick("g1", "1.0.0", "Hello"), "g1|1.0.0", "a method only one export has");
  t.equal(pick(undefined, undefined, "Hello"), undefined, "… is not the plain export's");
  t.match(
    router.describeMiss("/greet.GreetService/Greet", "g2", "1.0.0"),
    /^no implementation of greet\.GreetService for service group "g2" and service version "1\.0\.0"$/,
  );
  t.match(
    router.describeMiss("/greet.GreetService/Nope", "g1"),
    /unknown method Nope for service greet\.GreetService/,
  );
  t.match(router.describeMiss("/other.Service/Greet"), /unknown service other\.Service/);
  t.match(router.describeMiss("/no/such/path?x"), /^unknown path \/no\/such\/path$/);
  t.equal(
    route(router, "/greet.GreetService/Greet?q=1")?.group,
    "",
    "a query string is not part of the path",
  );
  t.same(router.services, ["greet.GreetService"], "one name, however many exports");
  t.same(
    router.exports.map((e) => `${e.group}/${e.service}:${e.version}`),
    [
      "/greet.GreetService:",
      "g1/greet.GreetService:1.0.0",
      "g1/greet.GreetService:",
      "/greet.GreetService:2.0.0",
      "/greet.GreetService:0.0.0",
    ],
  );
});

t.test("a service exported only with a group answers no call without the header", async (t) => {
  const router = new Router();
  router.add("svc.Keyed", methods("Call"), { group: "g1" });
  t.ok(router.find("/svc.Keyed/Call"), "the path is the router's (an embedded handler answers it)");
  t.equal(route(router, "/svc.Keyed/Call"), undefined, "no header: UNIMPLEMENTED, as dubbo-go");
  t.equal(route(router, "/svc.Keyed/Call", "g1")?.group, "g1");
  t.match(router.describeMiss("/svc.Keyed/Call"), /service group "" and service version ""/);
});

t.test("the same export twice, bad groups and versions: ConfigError", async (t) => {
  const router = new Router();
  router.add("a.B", methods("M"), { group: "g", version: "1" });
  t.throws(() => router.add("a.B", methods("M"), { group: "g", version: "1" }), {
    name: "ConfigError",
    message: "service g/a.B:1 is already added",
  });
  router.add("c.D", methods("M"));
  t.throws(() => router.add("c.D", methods("N")), { message: "service c.D is already added" });
  t.throws(() => router.add("c.D", methods("N"), { group: "" }), ConfigError, "an empty group is no group");
  for (const bad of ["has space", "tab\t", "é", "x".repeat(257)]) {
    t.throws(() => router.add("e.F", methods("M"), { group: bad }), ConfigError, JSON.stringify(bad));
    t.throws(() => router.add("e.F", methods("M"), { version: bad }), ConfigError, JSON.stringify(bad));
  }
  t.throws(() => router.add("e.F", methods("M"), { group: 7 as unknown as string }), ConfigError);
  t.notOk(router.has("e.F"), "nothing half-added");
});

t.test("lower-case-first method fallback (dubbo-go's method_route_mux)", async (t) => {
  const router = new Router();
  router.add("greet.GreetService", methods("Greet", "SayHello"));
  router.add("java.Style", methods("check"));
  t.equal(route(router, "/greet.GreetService/greet")?.method, "Greet", "a Java caller's lower-case name");
  t.equal(route(router, "/greet.GreetService/sayHello")?.method, "SayHello");
  t.equal(route(router, "/greet.GreetService/greet?x=1")?.method, "Greet", "without the query string too");
  t.equal(
    route(router, "/java.Style/Check")?.method,
    "check",
    "and the other way: only the first letter is folded",
  );
  t.equal(route(router, "/greet.GreetService/GREET"), undefined, "only the first letter");
  t.equal(route(router, "/greet.GreetService/sayhello"), undefined, "only the first letter");
  t.equal(route(router, "/Greet.GreetService/Greet"), undefined, "never the service name");
  t.equal(route(router, "/greet.GreetService/"), undefined);
  t.equal(route(router, "noslash"), undefined);
});

t.test("exact names win over the fallback", async (t) => {
  const router = new Router();
  router.add("x.Y", { Greet: unary("upper"), greet: unary("lower") });
  t.equal(route(router, "/x.Y/Greet")?.method, "Greet");
  t.equal(route(router, "/x.Y/greet")?.method, "greet");
  const later = new Router();
  later.add("x.Y", methods("greet"));
  later.add("x.Z", methods("Ping"));
  t.equal(later.find("/x.Y/Greet")?.route?.method, "greet");
  // A keyed export added later keeps the fallback working for every export.
  later.add("x.Z", methods("Ping"), { group: "g" });
  t.equal(route(later, "/x.Z/ping", "g")?.group, "g");
  t.equal(route(later, "/x.Z/ping")?.group, "");
});
