// Dubbo's znode layouts, byte for byte: the provider URL and its escaped path, the Curator instance JSON,
// the MetadataInfo revision and the mapping list — and the readers skipping what a consumer cannot use.
import { createHash } from "node:crypto";
import t from "tap";
import {
  buildProviderUrl,
  parseProviderUrl,
  providerMatches,
  providerNodePath,
} from "../../src/discovery/dubbo/interface-url.ts";
import { decodeMapping, mappingPath, mergeMapping } from "../../src/discovery/dubbo/mapping.ts";
import { buildMetadataInfo, matchKey, metadataRevision } from "../../src/discovery/dubbo/metadata-info.ts";
import { queryEscape, queryUnescape } from "../../src/discovery/dubbo/query-escape.ts";
import {
  buildInstanceJson,
  instancePath,
  parseInstanceJson,
} from "../../src/discovery/dubbo/service-instance.ts";

const who = {
  application: "greeter",
  host: "10.0.0.5",
  port: 20000,
  release: "0.1.0",
  pid: 4242,
  timestamp: 1700000000000,
};
const greet = { service: "greet.GreetService", group: "g1", version: "1.0.0", methods: ["Hello", "Greet"] };

t.test("Go's url.QueryEscape", async (t) => {
  t.equal(
    queryEscape("a b!'()*~-_.é/:?&=,+@;$"),
    "a+b%21%27%28%29%2A~-_.%C3%A9%2F%3A%3F%26%3D%2C%2B%40%3B%24",
  );
  t.equal(queryUnescape("a+b%21%c3%a9"), "a b!é");
  t.equal(queryUnescape("%zz"), undefined);
  t.equal(queryUnescape("%ff"), undefined, "not UTF-8");
  // A node name from dubbo-go's own tests (registry/etcdv3/listener_test.go), round trip.
  const node =
    "jsonrpc%3A%2F%2F127.0.0.1%3A20001%2Fcom.ikurento.user.UserProvider%3Fanyhost%3Dtrue%26group%3D%26interface%3Dcom.ikurento.user.UserProvider%26module%3Ddubbogo%2Buser-info%2Bserver%26side%3Dprovider";
  t.equal(queryEscape(queryUnescape(node)!), node);
  const url = parseProviderUrl(node)!;
  t.equal(url.protocol, "jsonrpc");
  t.equal(url.params.get("module"), "dubbogo user-info server");
});

t.test("the provider URL and its node", async (t) => {
  const url = buildProviderUrl(greet, who);
  t.equal(
    url,
    "tri://10.0.0.5:20000/greet.GreetService?anyhost=true&application=greeter&group=g1&interface=greet.GreetService&methods=Greet,Hello&pid=4242&release=0.1.0&serialization=protobuf&side=provider&timestamp=1700000000000&version=1.0.0",
  );
  t.equal(
    providerNodePath("dubbo", greet.service, url),
    "/dubbo/greet.GreetService/providers/tri%3A%2F%2F10.0.0.5%3A20000%2Fgreet.GreetService%3Fanyhost%3Dtrue%26application%3Dgreeter%26group%3Dg1%26interface%3Dgreet.GreetService%26methods%3DGreet%2CHello%26pid%3D4242%26release%3D0.1.0%26serialization%3Dprotobuf%26side%3Dprovider%26timestamp%3D1700000000000%26version%3D1.0.0",
  );
  const plain = buildProviderUrl({ ...greet, group: "", version: "" }, { ...who, host: "::1" });
  t.equal(
    plain,
    "tri://[::1]:20000/greet.GreetService?anyhost=true&application=greeter&interface=greet.GreetService&methods=Greet,Hello&pid=4242&release=0.1.0&serialization=protobuf&side=provider&timestamp=1700000000000",
  );
  const back = parseProviderUrl(queryEscape(url))!;
  t.match(back, { protocol: "tri", host: "10.0.0.5", port: 20000, path: "greet.GreetService" });
  t.equal(back.params.get("methods"), "Greet,Hello");
  t.equal(parseProviderUrl(plain)!.host, "::1");
  t.ok(providerMatches(back, { service: "greet.GreetService", group: "g1", version: "1.0.0" }));
  t.notOk(providerMatches(back, { service: "greet.GreetService" }), "another service key");
  t.notOk(
    providerMatches(back, {
      service: "greet.GreetService",
      group: "g1",
      version: "1.0.0",
      protocol: "dubbo",
    }),
  );
  const hessianless = parseProviderUrl(plain.replace("protobuf", "fastjson2"))!;
  t.notOk(providerMatches(hessianless, { service: "greet.GreetService" }), "unknown serialization");
  const bare = parseProviderUrl("tri://h:1/greet.GreetService:0.0.0?version=0.0.0&&x")!;
  t.ok(
    providerMatches({ ...bare, path: "greet.GreetService" }, { service: "greet.GreetService" }),
    "0.0.0 is none",
  );
});

t.test("foreign provider nodes are skipped, not thrown", async (t) => {
  for (const node of ["%zz", "not-a-url", "tri%3A%2F%2Fh%3A99999%2Fx", "tri://h:1/x?a=%zz", "tri://h/x", ""])
    t.equal(parseProviderUrl(node), undefined, node);
});

t.test("the instance JSON as Curator writes it, and read back", async (t) => {
  t.equal(instancePath("greeter", "10.0.0.5", 20000), "/services/greeter/10.0.0.5:20000");
  const json = buildInstanceJson({
    app: "greeter",
    host: "10.0.0.5",
    port: 20000,
    revision: "abc",
    registeredAt: 5,
  });
  t.equal(
    json,
    '{"name":"greeter","id":"10.0.0.5:20000","address":"10.0.0.5","port":20000,"sslPort":null,"payload":{"@class":"org.apache.dubbo.registry.zookeeper.ZookeeperInstance","id":"10.0.0.5:20000","name":"greeter","metadata":{"dubbo.metadata.revision":"abc","dubbo.metadata.storage-type":"local","dubbo.endpoints":"[{\\"port\\":20000,\\"protocol\\":\\"tri\\"}]","dubbo.metadata-service.url-params":"{\\"port\\":\\"20000\\",\\"protocol\\":\\"tri\\"}","meta-v":"2.0.0"}},"registrationTimeUTC":5,"serviceType":"DYNAMIC","uriSpec":null,"enabled":true}',
  );
  t.match(parseInstanceJson(Buffer.from(json)), {
    name: "greeter",
    id: "10.0.0.5:20000",
    address: "10.0.0.5",
    port: 20000,
    revision: "abc",
    triplePort: 20000,
    metadataService: { protocol: "tri", port: 20000 },
  });
});

t.test("instances a consumer cannot use", async (t) => {
  const good = JSON.parse(
    buildInstanceJson({ app: "a", host: "h", port: 1, revision: "r", registeredAt: 0 }),
  ) as Record<string, unknown> & { payload: { metadata: Record<string, unknown> } };
  const cases: Array<[unknown, string]> = [
    ["{", "not JSON"],
    ["[1]", "not a JSON object"],
    [{ ...good, payload: "x" }, "no payload metadata"],
    [{ ...good, port: 70000 }, "no valid port"],
    [
      { ...good, payload: { metadata: { ...good.payload.metadata, "dubbo.metadata.revision": "0" } } },
      "no revision",
    ],
  ];
  for (const [value, skip] of cases)
    t.same(parseInstanceJson(typeof value === "string" ? value : JSON.stringify(value)), { skip }, skip);
  const odd = parseInstanceJson(
    JSON.stringify({
      port: 7,
      payload: {
        metadata: {
          "dubbo.metadata.revision": "r",
          "dubbo.endpoints": "{",
          "dubbo.metadata-service.url-params": "[]",
          n: 1,
        },
      },
    }),
  );
  t.match(odd, {
    name: "",
    id: "",
    address: "",
    triplePort: 7,
    metadataService: undefined,
    metadata: { "dubbo.metadata.revision": "r" },
  });
  const endpoint = parseInstanceJson(
    JSON.stringify({
      port: 7,
      payload: {
        metadata: {
          "dubbo.metadata.revision": "r",
          "dubbo.endpoints": '[{"port":8,"protocol":"dubbo"},{"port":9,"protocol":"tri"},3]',
        },
      },
    }),
  );
  t.match(endpoint, { triplePort: 9 });
});

t.test("MetadataInfo and its revision, as dubbo-go's CalRevision", async (t) => {
  const info = buildMetadataInfo([greet, { service: "a.B", group: "", version: "", methods: ["X"] }], who);
  t.same(Object.keys(info.services).sort(), ["a.B:tri", "g1/greet.GreetService:1.0.0:tri"]);
  t.same(info.services["g1/greet.GreetService:1.0.0:tri"], {
    name: "greet.GreetService",
    group: "g1",
    version: "1.0.0",
    protocol: "tri",
    port: 20000,
    path: "greet.GreetService",
    params: {
      application: "greeter",
      group: "g1",
      timestamp: "1700000000000",
      serialization: "protobuf",
      version: "1.0.0",
      release: "0.1.0",
      methods: "Greet,Hello",
    },
  });
  const expected = createHash("sha512")
    .update("greeter")
    .update(
      "a.B|||tri|20000|a.B|application=greeter&release=0.1.0&serialization=protobuf&timestamp=1700000000000|X",
    )
    .update(
      "greet.GreetService|g1|1.0.0|tri|20000|greet.GreetService|application=greeter&group=g1&release=0.1.0&serialization=protobuf&timestamp=1700000000000&version=1.0.0|Greet,Hello",
    )
    .digest("hex");
  t.equal(info.version, expected);
  t.equal(info.app, "greeter");
  const none = buildMetadataInfo([], who);
  t.not(none.version, "0", "never 0");
  t.equal(none.version, createHash("sha512").update("greeter").digest("hex"));
  t.not(metadataRevision("greeter", { k: { ...info.services["a.B:tri"]!, params: {} } }), none.version);
  t.equal(matchKey({ name: "x.Y", group: "", version: "0.0.0", protocol: "tri" }), "x.Y:tri");
});

t.test("the mapping list", async (t) => {
  t.equal(mappingPath("dubbo", "greet.GreetService"), "/dubbo/mapping/greet.GreetService");
  t.equal(mergeMapping("", "a"), "a");
  t.equal(mergeMapping("a,b", "c"), "a,b,c");
  t.equal(mergeMapping("a,b", "b"), undefined);
  t.same(decodeMapping("a,,b,a"), ["a", "b"]);
});
