// Registry URLs as Dubbo users write them, and every way they can be wrong (a ConfigError naming it).
import t from "tap";
import { parseRegistryUrl } from "../../src/discovery/registry-url.ts";
import { ConfigError } from "../../src/wire/config-error.ts";

t.test("a comma list of servers", async (t) => {
  t.same(parseRegistryUrl("zookeeper://127.0.0.1:2181,127.0.0.1:2182,localhost:2183"), {
    servers: [
      { host: "127.0.0.1", port: 2181 },
      { host: "127.0.0.1", port: 2182 },
      { host: "localhost", port: 2183 },
    ],
    root: "dubbo",
  });
});

t.test("Dubbo's backup form, parameters and credentials", async (t) => {
  const url = parseRegistryUrl(
    "zookeeper://app:s%3Acret@10.0.0.1:2181/org.apache.dubbo.registry.RegistryService?backup=10.0.0.2:2182,[::1]:2183&session=3000&timeout=1500&group=/fleet/&other=1",
  );
  t.same(url, {
    servers: [
      { host: "10.0.0.1", port: 2181 },
      { host: "10.0.0.2", port: 2182 },
      { host: "::1", port: 2183 },
    ],
    root: "fleet",
    sessionTimeoutMs: 3000,
    connectTimeoutMs: 1500,
    auth: { user: "app", password: "s:cret" },
  });
  t.same(parseRegistryUrl("ZooKeeper://zk#frag").servers, [{ host: "zk", port: 2181 }], "default port");
  t.same(parseRegistryUrl("zookeeper://u@zk:1").auth, { user: "u", password: "" });
  t.equal(parseRegistryUrl("zookeeper://zk:1?group=").root, "dubbo");
});

t.test("what is wrong is named", async (t) => {
  const cases: Array<[string, RegExp]> = [
    ["nacos://127.0.0.1:8848", /unknown scheme nacos:\/\//],
    ["127.0.0.1:2181", /want zookeeper:\/\/host:port/],
    ["zookeeper://", /no host/],
    ["zookeeper://a:2181,,b:2181", /invalid host ""/],
    ["zookeeper://a:99999", /invalid port in "a:99999"/],
    ["zookeeper://a:0", /invalid port/],
    ["zookeeper://a b:1", /invalid host "a b:1"/],
    ["zookeeper://a:1?session=soon", /session="soon" must be a number of milliseconds/],
    ["zookeeper://a:1?timeout=0", /timeout="0"/],
    ["zookeeper://a:1?group=a//b", /invalid group/],
    ["zookeeper://:pw@a:1", /empty user/],
    ["zookeeper://%zz:pw@a:1", /malformed %-escape/],
    ["zookeeper://a:1?backup=b:x", /invalid host "b:x"/],
  ];
  for (const [text, message] of cases) {
    t.throws(() => parseRegistryUrl(text), ConfigError, text);
    t.throws(() => parseRegistryUrl(text), message, text);
  }
});
