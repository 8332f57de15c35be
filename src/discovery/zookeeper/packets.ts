import type { Acl } from "./acl.ts";
import { ErrorCode, ZooKeeperError } from "./errors.ts";
import { JuteReader, JuteWriter } from "./jute.ts";
import { OpCode, sessionPasswordBytes, Xid } from "./op-codes.ts";

/**
 * The records of ZooKeeper's client protocol (zookeeper.jute in apache/zookeeper), each with its writer
 * and reader side by side. Writers return the packet without the length prefix (framing.ts adds it).
 */

/** `ConnectRequest`, the first packet of a connection (no request header). */
export interface ConnectRequest {
  lastZxidSeen: bigint;
  timeoutMs: number;
  sessionId: bigint;
  password: Uint8Array;
}

export function writeConnectRequest(request: ConnectRequest): Buffer {
  return new JuteWriter(64)
    .int(0) // protocolVersion
    .long(request.lastZxidSeen)
    .int(request.timeoutMs)
    .long(request.sessionId)
    .buffer(request.password)
    .bool(false) // readOnly: this client never accepts a read-only server
    .finish();
}

/** `ConnectResponse`; a `timeoutMs` of 0 or less means the session asked for has expired. */
export interface ConnectResponse {
  protocolVersion: number;
  timeoutMs: number;
  sessionId: bigint;
  password: Buffer;
}

export function readConnectResponse(packet: Buffer): ConnectResponse {
  const reader = new JuteReader(packet);
  const protocolVersion = reader.int();
  const timeoutMs = reader.int();
  const sessionId = reader.long();
  const password = Buffer.from(reader.buffer() ?? Buffer.alloc(0));
  // readOnly (a trailing bool) is optional: servers before 3.4 do not send it, and it is not used here.
  return { protocolVersion, timeoutMs, sessionId, password };
}

export function readConnectRequest(packet: Buffer): ConnectRequest {
  const reader = new JuteReader(packet);
  reader.int();
  const lastZxidSeen = reader.long();
  const timeoutMs = reader.int();
  const sessionId = reader.long();
  const password = reader.buffer() ?? Buffer.alloc(0);
  return { lastZxidSeen, timeoutMs, sessionId, password };
}

/** The password a new session sends: 16 zero bytes, as the Java client does. */
export const newSessionPassword: Uint8Array = new Uint8Array(sessionPasswordBytes);

/** `RequestHeader` then the request body, written by `body`. */
export function writeRequest(xid: number, op: number, body?: (writer: JuteWriter) => void): Buffer {
  const writer = new JuteWriter(128).int(xid).int(op);
  body?.(writer);
  return writer.finish();
}

/** `ReplyHeader`: the request's xid, the zxid the server was at, the error code. */
export interface ReplyHeader {
  xid: number;
  zxid: bigint;
  err: number;
}

export function readReplyHeader(reader: JuteReader): ReplyHeader {
  return { xid: reader.int(), zxid: reader.long(), err: reader.int() };
}

export function writeReplyHeader(header: ReplyHeader): JuteWriter {
  return new JuteWriter(64).int(header.xid).long(header.zxid).int(header.err);
}

function writeAcl(writer: JuteWriter, acl: Acl): void {
  writer.int(acl.perms).ustring(acl.scheme).ustring(acl.id);
}

function readAcl(reader: JuteReader): Acl {
  return { perms: reader.int(), scheme: reader.ustring() ?? "", id: reader.ustring() ?? "" };
}

/** `CreateRequest`: path, data, acl, flags. */
export function writeCreate(
  xid: number,
  path: string,
  data: Uint8Array,
  acl: ReadonlyArray<Acl>,
  flags: number,
) {
  return writeRequest(xid, OpCode.create, (w) => {
    w.ustring(path).buffer(data).vector(acl, writeAcl).int(flags);
  });
}

export interface CreateBody {
  path: string;
  data: Buffer;
  acl: Acl[];
  flags: number;
}

/** Reads a CreateRequest body (used by tests and debugging tools). */
export function readCreateBody(reader: JuteReader): CreateBody {
  const path = reader.ustring() ?? "";
  const data = reader.buffer() ?? Buffer.alloc(0);
  const acl = reader.vector(readAcl, 12) ?? [];
  return { path, data, acl, flags: reader.int() };
}

/** `DeleteRequest`: path, version (-1 for any). */
export function writeDelete(xid: number, path: string, version: number): Buffer {
  return writeRequest(xid, OpCode.delete, (w) => {
    w.ustring(path).int(version);
  });
}

/** One operation of a multi (transaction): a create or a delete, with the ACL already chosen. */
export type MultiOp =
  | { op: "create"; path: string; data: Uint8Array; acl: ReadonlyArray<Acl>; flags: number }
  | { op: "delete"; path: string; version: number };

/** What a multi's operation came to: a create's path, a delete, or the error code of one not applied. */
export type MultiResult = { op: "create"; path: string } | { op: "delete" } | { op: "error"; err: number };

// `MultiHeader`: the operation's type, whether the list is done, and an error code (-1 in requests).
function writeMultiHeader(writer: JuteWriter, type: number, done: boolean): void {
  writer.int(type).bool(done).int(-1);
}

/**
 * `MultiOperationRecord`: each operation as a MultiHeader and its usual request body, then a MultiHeader
 * of type -1 marked done (apache/zookeeper MultiOperationRecord.serialize).
 */
export function writeMulti(xid: number, ops: readonly MultiOp[]): Buffer {
  return writeRequest(xid, OpCode.multi, (w) => {
    for (const op of ops) {
      if (op.op === "create") {
        writeMultiHeader(w, OpCode.create, false);
        w.ustring(op.path).buffer(op.data).vector(op.acl, writeAcl).int(op.flags);
      } else {
        writeMultiHeader(w, OpCode.delete, false);
        w.ustring(op.path).int(op.version);
      }
    }
    writeMultiHeader(w, -1, true);
  });
}

/**
 * `MultiResponse`: a MultiHeader and a result per operation until one marked done (MultiResponse.deserialize).
 * Only the results of the operations writeMulti sends are expected; any other type is a MARSHALLINGERROR.
 */
export function readMultiResponse(reader: JuteReader): MultiResult[] {
  const results: MultiResult[] = [];
  for (;;) {
    const type = reader.int();
    const done = reader.bool();
    reader.int();
    if (done) return results;
    if (type === OpCode.create) results.push({ op: "create", path: reader.ustring() ?? "" });
    else if (type === OpCode.delete) results.push({ op: "delete" });
    else if (type === OpCode.error) results.push({ op: "error", err: reader.int() });
    else throw new ZooKeeperError(ErrorCode.MARSHALLINGERROR, `a multi result of type ${type}`);
  }
}

/** `ExistsRequest`, `GetDataRequest`, `GetChildrenRequest`: path and whether to set a watch. */
export function writePathWatch(xid: number, op: number, path: string, watch: boolean): Buffer {
  return writeRequest(xid, op, (w) => {
    w.ustring(path).bool(watch);
  });
}

/** `GetACLRequest`: the path only (no watch). */
export function writeGetAcl(xid: number, path: string): Buffer {
  return writeRequest(xid, OpCode.getACL, (w) => {
    w.ustring(path);
  });
}

/** `GetACLResponse`: the node's ACL entries and its stat. */
export function readGetAclResponse(reader: JuteReader): { acl: Acl[]; stat: Stat } {
  const acl = reader.vector(readAcl, 12) ?? [];
  return { acl, stat: readStat(reader) };
}

/** `SetDataRequest`: path, data, version (-1 for any). */
export function writeSetData(xid: number, path: string, data: Uint8Array, version: number): Buffer {
  return writeRequest(xid, OpCode.setData, (w) => {
    w.ustring(path).buffer(data).int(version);
  });
}

/** `SetWatches`: re-arms watches on a reconnected session; the server fires those whose node changed after `relativeZxid`. */
export interface SetWatches {
  relativeZxid: bigint;
  dataWatches: string[];
  existWatches: string[];
  childWatches: string[];
}

const writeString = (w: JuteWriter, s: string) => {
  w.ustring(s);
};

export function writeSetWatches(watches: SetWatches): Buffer {
  return writeRequest(Xid.setWatches, OpCode.setWatches, (w) => {
    w.long(watches.relativeZxid)
      .vector(watches.dataWatches, writeString)
      .vector(watches.existWatches, writeString)
      .vector(watches.childWatches, writeString);
  });
}

/** `AuthPacket`: type 0, scheme, auth bytes (`user:password` for digest). */
export function writeAuth(scheme: string, auth: Uint8Array): Buffer {
  return writeRequest(Xid.auth, OpCode.auth, (w) => {
    w.int(0).ustring(scheme).buffer(auth);
  });
}

/** The ping: a request header alone. */
export const pingPacket: Buffer = writeRequest(Xid.ping, OpCode.ping);

/** `closeSession`: a request header alone, with an ordinary xid. */
export function writeCloseSession(xid: number): Buffer {
  return writeRequest(xid, OpCode.closeSession);
}

/** `WatcherEvent`: type, keeper state, path. */
export interface WatcherEvent {
  type: number;
  state: number;
  path: string;
}

export function readWatcherEvent(reader: JuteReader): WatcherEvent {
  return { type: reader.int(), state: reader.int(), path: reader.ustring() ?? "" };
}

export function writeWatcherEvent(writer: JuteWriter, event: WatcherEvent): JuteWriter {
  return writer.int(event.type).int(event.state).ustring(event.path);
}

/** A znode's `Stat` (68 bytes on the wire). */
export interface Stat {
  czxid: bigint;
  mzxid: bigint;
  ctime: number;
  mtime: number;
  version: number;
  cversion: number;
  aversion: number;
  ephemeralOwner: bigint;
  dataLength: number;
  numChildren: number;
  pzxid: bigint;
}

export const statBytes = 68;

export function readStat(reader: JuteReader): Stat {
  return {
    czxid: reader.long(),
    mzxid: reader.long(),
    ctime: Number(reader.long()),
    mtime: Number(reader.long()),
    version: reader.int(),
    cversion: reader.int(),
    aversion: reader.int(),
    ephemeralOwner: reader.long(),
    dataLength: reader.int(),
    numChildren: reader.int(),
    pzxid: reader.long(),
  };
}

export function writeStat(writer: JuteWriter, stat: Stat): JuteWriter {
  return writer
    .long(stat.czxid)
    .long(stat.mzxid)
    .long(BigInt(stat.ctime))
    .long(BigInt(stat.mtime))
    .int(stat.version)
    .int(stat.cversion)
    .int(stat.aversion)
    .long(stat.ephemeralOwner)
    .int(stat.dataLength)
    .int(stat.numChildren)
    .long(stat.pzxid);
}

/** `CreateResponse`: the path created. */
export function readCreateResponse(reader: JuteReader): string {
  return reader.ustring() ?? "";
}

/** `GetDataResponse`: data (copied out of the frame) and stat. */
export function readGetDataResponse(reader: JuteReader): { data: Buffer; stat: Stat } {
  const view = reader.buffer();
  const data = view === null ? Buffer.alloc(0) : Buffer.from(view);
  return { data, stat: readStat(reader) };
}

/** `GetChildrenResponse` (and the children of `GetChildren2Response`). */
export function readGetChildrenResponse(reader: JuteReader): string[] {
  return reader.vector((r) => r.ustring() ?? "", 4) ?? [];
}
