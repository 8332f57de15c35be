import t from "tap";
import { tlsConnectOptions, tlsFor } from "../../src/client/tls-options.ts";

t.test("tlsFor: https implies TLS, the options turn it on for http", async (t) => {
  t.equal(tlsFor(new URL("http://h:1"), undefined), undefined);
  t.same(tlsFor(new URL("https://h:1"), undefined), {});
  const options = { servername: "x" };
  t.equal(tlsFor(new URL("http://h:1"), options), options);
  t.equal(tlsFor(new URL("https://h:1"), options), options);
});

t.test("tlsConnectOptions: node's names, SNI only for host names", async (t) => {
  t.same(tlsConnectOptions({ ca: "CA", cert: "C", key: "K" }, "health.test"), {
    ca: "CA",
    cert: "C",
    key: "K",
    servername: "health.test",
    rejectUnauthorized: true,
  });
  t.equal(tlsConnectOptions({}, "127.0.0.1").servername, undefined, "no SNI for an IPv4 address");
  t.equal(tlsConnectOptions({}, "[::1]").servername, undefined, "nor for an IPv6 one in brackets");
  t.equal(tlsConnectOptions({ servername: "named" }, "127.0.0.1").servername, "named");
  t.equal(tlsConnectOptions({ insecureSkipVerify: true }, "h").rejectUnauthorized, false);
});
