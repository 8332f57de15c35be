import t from "tap";
import { addressShareKey, WatchSlots } from "../../src/health/watch-slots.ts";
import { Code } from "../../src/wire/code.ts";

t.test("addressShareKey: IPv4 as is, IPv4-mapped as IPv4, IPv6 by its /64", async (t) => {
  t.equal(addressShareKey("10.1.2.3"), "10.1.2.3");
  t.equal(addressShareKey("::ffff:10.1.2.3"), "10.1.2.3");
  t.equal(addressShareKey("::FFFF:10.1.2.3"), "10.1.2.3");
  t.equal(addressShareKey("2001:db8:1:2::1"), "2001:db8:1:2::/64");
  t.equal(addressShareKey("2001:0DB8:0001:0002:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
  t.equal(addressShareKey("fe80::1%eth0"), "fe80:0:0:0::/64", "the zone is not part of the client");
  t.equal(addressShareKey("::1"), "0:0:0:0::/64");
  t.equal(addressShareKey("::"), "0:0:0:0::/64");
  t.equal(addressShareKey("1:2:3:4:5:6:7:8"), "1:2:3:4::/64");
  t.equal(addressShareKey("1:2::7:8"), "1:2:0:0::/64");
  t.equal(addressShareKey("1:2:3:4::1.2.3.4"), "1:2:3:4::/64", "an embedded IPv4 tail");
  t.equal(addressShareKey("::1.2.3.4"), "0:0:0:0::/64");
  t.equal(addressShareKey(undefined), "", "a socket already gone");
});

t.test("WatchSlots: per connection and per address, freed by release", async (t) => {
  const slots = new WatchSlots(2, 3);
  const a = {};
  const b = {};
  const key = slots.acquire(a, "10.0.0.1");
  t.equal(key, "10.0.0.1");
  slots.acquire(a, "10.0.0.1");
  t.throws(() => slots.acquire(a, "10.0.0.1"), {
    code: Code.ResourceExhausted,
    rawMessage: /one connection \(limit 2\)/,
  });
  slots.acquire(b, "::ffff:10.0.0.1");
  t.equal(slots.heldBy("10.0.0.1"), 3);
  t.throws(() => slots.acquire({}, "10.0.0.1"), {
    code: Code.ResourceExhausted,
    rawMessage: /one client address \(limit 3\)/,
  });
  t.equal(slots.heldBy("10.0.0.1"), 3, "a refusal takes nothing");
  slots.release(a, key);
  t.equal(slots.heldBy("10.0.0.1"), 2);
  slots.acquire(a, "10.0.0.1");
  for (const connection of [a, a, b]) slots.release(connection, "10.0.0.1");
  t.equal(slots.heldBy("10.0.0.1"), 0, "an address holding none has no entry left");
  slots.acquire(undefined, undefined);
  t.equal(slots.heldBy(undefined), 1, "no connection, no address: counted under the empty key");
  slots.release(undefined, "");
  t.equal(slots.heldBy(undefined), 0);
});
