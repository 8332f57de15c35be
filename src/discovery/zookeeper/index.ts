/**
 * The ZooKeeper client protocol on node:net, with no dependency: the session client the registry builds
 * on, and the protocol pieces (jute records, framing, packets) for tests and debugging tools.
 */
export { type Acl, creatorAcl, digestId, openAcl } from "./acl.ts";
export { ZooKeeperConnection } from "./connection.ts";
export { ErrorCode, type ErrorCodeName, errorCodeName, ZooKeeperError } from "./errors.ts";
export { defaultMaxPacketBytes, encodeFrame, FrameDecoder, maxRequestBytes } from "./framing.ts";
export { JuteReader, JuteWriter } from "./jute.ts";
export { CreateFlag, EventType, OpCode, Perm, Xid } from "./op-codes.ts";
export {
  ZooKeeperClient,
  type ZooKeeperClientOptions,
  type ZooKeeperServer,
  type ZooKeeperStat,
  type ZooKeeperState,
  type ZooKeeperWatchEvent,
} from "./zookeeper-client.ts";
