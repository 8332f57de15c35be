import t from "tap";
import { decodeGrpcMessage, encodeGrpcMessage } from "../../src/wire/grpc-message.ts";
import { prng } from "./fixtures/decode.ts";

t.test("encode: bytes outside 0x20-0x7E and % are %XX of the UTF-8", async (t) => {
  t.equal(encodeGrpcMessage(""), "");
  t.equal(
    encodeGrpcMessage("service not found: greet.GreetService"),
    "service not found: greet.GreetService",
  );
  t.equal(encodeGrpcMessage("100%"), "100%25");
  t.equal(encodeGrpcMessage("a\r\nb\t"), "a%0D%0Ab%09");
  t.equal(encodeGrpcMessage("\x7f\x00"), "%7F%00");
  t.equal(encodeGrpcMessage("é"), "%C3%A9");
  t.equal(encodeGrpcMessage("服务"), "%E6%9C%8D%E5%8A%A1");
  t.equal(encodeGrpcMessage("😀"), "%F0%9F%98%80");
  t.equal(encodeGrpcMessage(" ~"), " ~", "the range ends are literal");
  // grpc-go's TestEncodeGrpcMessage cases.
  t.equal(encodeGrpcMessage("Hello"), "Hello");
  t.equal(encodeGrpcMessage("\u0000"), "%00");
  t.equal(encodeGrpcMessage("%"), "%25");
  t.equal(encodeGrpcMessage("系统"), "%E7%B3%BB%E7%BB%9F");
  t.equal(encodeGrpcMessage("\u{1F600}%"), "%F0%9F%98%80%25");
});

t.test("decode", async (t) => {
  t.equal(decodeGrpcMessage(""), "");
  t.equal(decodeGrpcMessage("plain"), "plain");
  t.equal(decodeGrpcMessage("100%25"), "100%");
  t.equal(decodeGrpcMessage("%C3%A9 and %c3%a9"), "é and é", "hex digits in either case");
  t.equal(decodeGrpcMessage("%E7%B3%BB%E7%BB%9F"), "系统");
  t.equal(decodeGrpcMessage("%F0%9F%98%80%25"), "😀%");
});

t.test("decode leaves malformed percent sequences as they are", async (t) => {
  t.equal(decodeGrpcMessage("%"), "%");
  t.equal(decodeGrpcMessage("%%"), "%%");
  t.equal(decodeGrpcMessage("%2"), "%2");
  t.equal(decodeGrpcMessage("abc%"), "abc%");
  t.equal(decodeGrpcMessage("%zz%41"), "%zzA");
  t.equal(decodeGrpcMessage("%G1"), "%G1");
  t.equal(decodeGrpcMessage("%1G"), "%1G");
  t.equal(decodeGrpcMessage("50% off %41"), "50% off A");
  t.equal(decodeGrpcMessage("%C3"), "\uFFFD", "a truncated UTF-8 sequence becomes U+FFFD");
  t.equal(decodeGrpcMessage("%FF%41"), "\uFFFDA");
});

t.test("decode passes through characters that are not bytes", async (t) => {
  t.equal(decodeGrpcMessage("系统 %41"), "系统 A");
  t.equal(decodeGrpcMessage("😀%25"), "😀%");
  // A peer that sent raw UTF-8, read as latin1 by the HTTP layer, is repaired when a % is present.
  t.equal(decodeGrpcMessage(Buffer.from("é%21", "utf8").toString("latin1")), "é!");
});

t.test("round trip on random strings", async (t) => {
  const random = prng(7);
  const alphabet = ["a", "Z", " ", "%", "~", "\n", "\x00", "é", "系", "😀", "%41", "\x7f"];
  for (let i = 0; i < 2000; i++) {
    let text = "";
    const length = Math.floor(random() * 12);
    for (let j = 0; j < length; j++) text += alphabet[Math.floor(random() * alphabet.length)];
    const encoded = encodeGrpcMessage(text);
    if (!/^[\x20-\x7e]*$/.test(encoded) || decodeGrpcMessage(encoded) !== text) {
      t.fail(`round trip of ${JSON.stringify(text)} gave ${JSON.stringify(encoded)}`);
      return;
    }
  }
  t.pass("2000 strings");
});
