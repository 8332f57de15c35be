import t from "tap";
import { createRpcHandler, HealthRegistry } from "../../src/index.ts";
import { ConfigError } from "../../src/wire/config-error.ts";

t.test("ConfigError: one type for bad configuration, a TypeError with a stable code", async (t) => {
  const error = new ConfigError("maxThings must be positive");
  t.ok(error instanceof TypeError, "a TypeError, like Node's invalid-argument errors");
  t.equal(error.name, "ConfigError");
  t.equal(error.code, "ERR_TRIPLE_HEALTH_CONFIG");
  t.equal(error.message, "maxThings must be positive");
  t.throws(() => createRpcHandler({ maxMessageBytes: -1 }), { code: "ERR_TRIPLE_HEALTH_CONFIG" });
  t.throws(() => new HealthRegistry().set("x", 3), { name: "ConfigError" });
});
