import t from "tap";
import { creatorAcl, digestId, openAcl } from "../../../src/discovery/zookeeper/acl.ts";
import { ErrorCode, errorCodeName, ZooKeeperError } from "../../../src/discovery/zookeeper/errors.ts";
import { JuteReader, JuteWriter } from "../../../src/discovery/zookeeper/jute.ts";
import { CreateFlag, OpCode, Perm } from "../../../src/discovery/zookeeper/op-codes.ts";
import {
  newSessionPassword,
  pingPacket,
  readConnectRequest,
  readConnectResponse,
  readCreateBody,
  readCreateResponse,
  readGetChildrenResponse,
  readGetDataResponse,
  readMultiResponse,
  readReplyHeader,
  readStat,
  readWatcherEvent,
  type Stat,
  statBytes,
  writeAuth,
  writeCloseSession,
  writeConnectRequest,
  writeCreate,
  writeDelete,
  writeMulti,
  writePathWatch,
  writeReplyHeader,
  writeSetData,
  writeSetWatches,
  writeStat,
  writeWatcherEvent,
} from "../../../src/discovery/zookeeper/packets.ts";
import { hex } from "../../wire/fixtures/decode.ts";

const h = (b: Buffer) => b.toString("hex");

t.test("ConnectRequest of a new session: 45 bytes, as the Java client sends", async (t) => {
  const packet = writeConnectRequest({
    lastZxidSeen: 0n,
    timeoutMs: 30000,
    sessionId: 0n,
    password: newSessionPassword,
  });
  t.equal(
    h(packet),
    h(
      hex("00000000 0000000000000000 00007530 0000000000000000 00000010 00000000000000000000000000000000 00"),
    ),
  );
  t.equal(packet.length, 45);
  const back = readConnectRequest(packet);
  t.equal(back.timeoutMs, 30000);
  t.equal(back.sessionId, 0n);
  t.equal(back.password.length, 16);
});

t.test("ConnectRequest resuming a session carries its id, password and last zxid", async (t) => {
  const password = Buffer.from("0123456789abcdef");
  const packet = writeConnectRequest({
    lastZxidSeen: 0x100000002n,
    timeoutMs: 4000,
    sessionId: 0x1000007a6ff0000n,
    password,
  });
  t.equal(
    h(packet),
    h(hex(`00000000 0000000100000002 00000fa0 01000007a6ff0000 00000010 ${password.toString("hex")} 00`)),
  );
});

t.test("ConnectResponse, with and without the trailing readOnly", async (t) => {
  const body = "00000000 00000fa0 01000007a6ff0000 00000010 000102030405060708090a0b0c0d0e0f";
  const withFlag = readConnectResponse(hex(`${body} 00`));
  t.same(withFlag, {
    protocolVersion: 0,
    timeoutMs: 4000,
    sessionId: 0x1000007a6ff0000n,
    password: hex("000102030405060708090a0b0c0d0e0f"),
  });
  t.same(readConnectResponse(hex(body)), withFlag);
  const expired = readConnectResponse(hex("00000000 00000000 0000000000000000 00000000 00"));
  t.equal(expired.timeoutMs, 0, "an expired session answers timeout 0");
  t.throws(() => readConnectResponse(hex("00000000 0000")), { code: ErrorCode.MARSHALLINGERROR });
});

t.test("request headers and bodies", async (t) => {
  t.equal(h(pingPacket), "fffffffe0000000b", "ping: xid -2, op 11");
  t.equal(h(writeCloseSession(7)), "00000007fffffff5", "closeSession: op -11");
  t.equal(
    h(writeCreate(1, "/a", Buffer.from("hi"), openAcl, CreateFlag.ephemeral)),
    h(
      hex(
        "00000001 00000001 00000002 2f61 00000002 6869 00000001 0000001f 00000005 776f726c64 00000006 616e796f6e65 00000001",
      ),
    ),
    "create /a hi world:anyone:cdrwa ephemeral",
  );
  t.equal(h(writeDelete(2, "/a", -1)), h(hex("00000002 00000002 00000002 2f61 ffffffff")));
  t.equal(h(writePathWatch(3, OpCode.exists, "/a", true)), h(hex("00000003 00000003 00000002 2f61 01")));
  t.equal(h(writePathWatch(4, OpCode.getData, "/a", false)), h(hex("00000004 00000004 00000002 2f61 00")));
  t.equal(h(writePathWatch(5, OpCode.getChildren, "/", true)), h(hex("00000005 00000008 00000001 2f 01")));
  t.equal(
    h(writeSetData(6, "/a", Buffer.from("x"), 3)),
    h(hex("00000006 00000005 00000002 2f61 00000001 78 00000003")),
  );
  t.equal(
    h(
      writeSetWatches({
        relativeZxid: 9n,
        dataWatches: ["/d"],
        existWatches: [],
        childWatches: ["/c", "/e"],
      }),
    ),
    h(
      hex(
        "fffffff8 00000065 0000000000000009 00000001 00000002 2f64 00000000 00000002 00000002 2f63 00000002 2f65",
      ),
    ),
    "SetWatches: xid -8, op 101",
  );
  t.equal(
    h(writeAuth("digest", Buffer.from("u:p"))),
    h(hex("fffffffc 00000064 00000000 00000006 646967657374 00000003 753a70")),
    "auth: xid -4, op 100, type 0",
  );
});

t.test("a CreateRequest body reads back", async (t) => {
  const packet = writeCreate(1, "/x", Buffer.from([1]), creatorAcl("u", "p"), CreateFlag.persistent);
  const reader = new JuteReader(packet, 8);
  t.same(readCreateBody(reader), {
    path: "/x",
    data: Buffer.from([1]),
    acl: [
      { perms: Perm.all, scheme: "digest", id: digestId("u", "p") },
      { perms: Perm.read, scheme: "world", id: "anyone" },
    ],
    flags: 0,
  });
});

const stat: Stat = {
  czxid: 0x100000003n,
  mzxid: 0x100000004n,
  ctime: 1700000000000,
  mtime: 1700000000001,
  version: 2,
  cversion: 3,
  aversion: 1,
  ephemeralOwner: 0x1000007a6ff0000n,
  dataLength: 5,
  numChildren: 0,
  pzxid: 0x100000003n,
};

t.test("Stat is 68 bytes and reads back", async (t) => {
  const bytes = writeStat(new JuteWriter(), stat).finish();
  t.equal(bytes.length, statBytes);
  t.equal(
    h(bytes),
    h(
      hex(
        "0000000100000003 0000000100000004 0000018bcfe56800 0000018bcfe56801 00000002 00000003 00000001 01000007a6ff0000 00000005 00000000 0000000100000003",
      ),
    ),
  );
  t.same(readStat(new JuteReader(bytes)), stat);
});

t.test("replies: header, notification, create, getData, getChildren", async (t) => {
  const header = writeReplyHeader({ xid: 3, zxid: 0x10n, err: ErrorCode.NONODE }).finish();
  t.equal(h(header), h(hex("00000003 0000000000000010 ffffff9b")));
  t.same(readReplyHeader(new JuteReader(header)), { xid: 3, zxid: 0x10n, err: -101 });

  const event = writeWatcherEvent(new JuteWriter(), { type: 3, state: 3, path: "/a" }).finish();
  t.equal(h(event), h(hex("00000003 00000003 00000002 2f61")));
  t.same(readWatcherEvent(new JuteReader(event)), { type: 3, state: 3, path: "/a" });

  t.equal(readCreateResponse(new JuteReader(hex("00000002 2f61"))), "/a");
  t.equal(readCreateResponse(new JuteReader(hex("ffffffff"))), "", "a null path reads as empty");

  const frame = Buffer.concat([hex("00000002 6869"), writeStat(new JuteWriter(), stat).finish()]);
  const got = readGetDataResponse(new JuteReader(frame));
  t.equal(got.data.toString(), "hi");
  frame[4] = 0;
  t.equal(got.data.toString(), "hi", "data is copied out of the frame");
  t.same(got.stat, stat);
  const nullData = Buffer.concat([hex("ffffffff"), writeStat(new JuteWriter(), stat).finish()]);
  t.equal(readGetDataResponse(new JuteReader(nullData)).data.length, 0, "null data reads as empty");

  t.same(readGetChildrenResponse(new JuteReader(hex("00000002 00000001 61 00000002 6263"))), ["a", "bc"]);
  t.same(readGetChildrenResponse(new JuteReader(hex("ffffffff"))), []);
  t.throws(() => readGetChildrenResponse(new JuteReader(hex("00100000 00000001 61"))), {
    code: ErrorCode.MARSHALLINGERROR,
  });
});

t.test("digest ids and ACLs", async (t) => {
  // The value ZooKeeper's admin guide family of examples gives for super:test.
  t.equal(digestId("super", "test"), "super:D/InIHSb7yEEbrWz8b9l71RjZJU=");
  t.same(openAcl, [{ perms: 31, scheme: "world", id: "anyone" }]);
  t.same(creatorAcl("super", "test"), [
    { perms: 31, scheme: "digest", id: "super:D/InIHSb7yEEbrWz8b9l71RjZJU=" },
    { perms: 1, scheme: "world", id: "anyone" },
  ]);
});

t.test("errors carry the code, its name and the path", async (t) => {
  const error = new ZooKeeperError(ErrorCode.NONODE, undefined, "/a");
  t.equal(error.code, -101);
  t.equal(error.codeName, "NONODE");
  t.equal(error.path, "/a");
  t.equal(error.message, "NONODE /a");
  t.equal(error.name, "ZooKeeperError");
  const withText = new ZooKeeperError(ErrorCode.CONNECTIONLOSS, "gone", undefined, { cause: 1 });
  t.equal(withText.message, "CONNECTIONLOSS: gone");
  t.equal(withText.cause, 1);
  t.equal(errorCodeName(-110), "NODEEXISTS");
  t.equal(errorCodeName(-103), "BADVERSION");
  t.equal(errorCodeName(-102), "NOAUTH");
  t.equal(errorCodeName(-112), "SESSIONEXPIRED");
  t.equal(errorCodeName(-111), "NOTEMPTY");
  t.equal(errorCodeName(-999), "UNKNOWN(-999)");
});

// MultiOperationRecord and MultiResponse as apache/zookeeper writes and reads them: a MultiHeader (type, done,
// err) before each operation's usual body, and a last one of type -1 marked done.
t.test("multi: the request's headers and bodies, every kind of result", async (t) => {
  t.equal(
    h(
      writeMulti(9, [
        { op: "delete", path: "/a", version: -1 },
        { op: "create", path: "/a", data: Buffer.from("hi"), acl: openAcl, flags: CreateFlag.ephemeral },
      ]),
    ),
    h(
      hex(
        "00000009 0000000e" +
          " 00000002 00 ffffffff 00000002 2f61 ffffffff" +
          " 00000001 00 ffffffff 00000002 2f61 00000002 6869 00000001 0000001f 00000005 776f726c64 00000006 616e796f6e65 00000001" +
          " ffffffff 01 ffffffff",
      ),
    ),
    "xid 9, op 14: delete /a any version, create /a hi world:anyone:cdrwa ephemeral, done",
  );
  t.same(
    readMultiResponse(
      new JuteReader(hex("00000002 00 00000000 00000001 00 00000000 00000002 2f61 ffffffff 01 ffffffff")),
    ),
    [{ op: "delete" }, { op: "create", path: "/a" }],
    "applied: a delete result (no body), a create result (its path)",
  );
  t.same(
    readMultiResponse(
      new JuteReader(hex("ffffffff 00 ffffff9b ffffff9b ffffffff 00 fffffffe fffffffe ffffffff 01 ffffffff")),
    ),
    [
      { op: "error", err: ErrorCode.NONODE },
      { op: "error", err: ErrorCode.RUNTIMEINCONSISTENCY },
    ],
    "not applied: the failing operation's code, then RUNTIMEINCONSISTENCY for the next",
  );
  t.throws(() => readMultiResponse(new JuteReader(hex("00000005 00 00000000"))), {
    code: ErrorCode.MARSHALLINGERROR,
    message: /multi result of type 5/,
  });
});
