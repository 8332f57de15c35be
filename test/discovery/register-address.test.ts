// The address registered: option, Dubbo's environment variables, the bound host, a real interface.
import t from "tap";
import { registerAddress } from "../../src/discovery/register-address.ts";
import { ConfigError } from "../../src/wire/config-error.ts";

const bound = { host: "127.0.0.1", port: 20000 };
const nics = {
  lo: [{ address: "127.0.0.1", netmask: "255.0.0.0", family: "IPv4", mac: "", internal: true, cidr: null }],
  eth0: [
    {
      address: "fe80::1",
      netmask: "ffff::",
      family: "IPv6",
      mac: "",
      internal: false,
      cidr: null,
      scopeid: 2,
    },
    { address: "10.1.2.3", netmask: "255.0.0.0", family: "IPv4", mac: "", internal: false, cidr: null },
  ],
} as unknown as ReturnType<typeof import("node:os").networkInterfaces>;

t.test("order of precedence", async (t) => {
  t.same(registerAddress(bound, undefined, {}), bound, "the bound host");
  t.same(registerAddress(bound, "provider.example", {}), { host: "provider.example", port: 20000 });
  t.same(registerAddress(bound, "10.0.0.9:30000", { DUBBO_PORT_TO_REGISTRY: "1" }), {
    host: "10.0.0.9",
    port: 30000,
  });
  t.same(registerAddress(bound, "[fd00::1]:30001", {}), { host: "fd00::1", port: 30001 });
  t.same(registerAddress(bound, "fd00::2", {}), { host: "fd00::2", port: 20000 });
  t.same(
    registerAddress(bound, undefined, { DUBBO_IP_TO_REGISTRY: "192.0.2.7", DUBBO_PORT_TO_REGISTRY: "31000" }),
    {
      host: "192.0.2.7",
      port: 31000,
    },
  );
  t.same(registerAddress(bound, "", { DUBBO_IP_TO_REGISTRY: "", DUBBO_PORT_TO_REGISTRY: "" }), bound);
});

t.test("bound to every address: the first non-internal one", async (t) => {
  t.same(registerAddress({ host: "0.0.0.0", port: 1 }, undefined, {}, nics), { host: "10.1.2.3", port: 1 });
  t.same(registerAddress({ host: "[::]", port: 1 }, undefined, {}, nics), { host: "10.1.2.3", port: 1 });
  const v6 = { eth0: [{ ...nics["eth0"]![0]!, address: "2001:db8::5" }] } as typeof nics;
  t.same(registerAddress({ host: "::", port: 1 }, undefined, {}, v6), { host: "2001:db8::5", port: 1 });
  t.same(registerAddress({ host: "::", port: 1 }, undefined, {}, { lo: nics["lo"] }), {
    host: "127.0.0.1",
    port: 1,
  });
  t.ok(registerAddress({ host: "0.0.0.0", port: 1 }, undefined, {}).host.length > 0, "this machine's own");
});

t.test("bad ports", async (t) => {
  t.throws(() => registerAddress(bound, "h:70000", {}), ConfigError);
  t.throws(
    () => registerAddress(bound, undefined, { DUBBO_PORT_TO_REGISTRY: "x" }),
    /DUBBO_PORT_TO_REGISTRY: "x"/,
  );
  t.throws(() => registerAddress(bound, "a:b:c:[", {}), /no host or host:port/);
});
