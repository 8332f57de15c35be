/**
 * Numbers of the ZooKeeper client protocol (`ZooDefs.OpCode`, `ZooDefs.Perms`, `CreateMode`,
 * `Watcher.Event.EventType` and the reserved xids of `ClientCnxn` in apache/zookeeper).
 */
export const OpCode = {
  create: 1,
  delete: 2,
  exists: 3,
  getData: 4,
  setData: 5,
  getACL: 6,
  getChildren: 8,
  ping: 11,
  getChildren2: 12,
  /** A transaction: its operations apply together or not at all. */
  multi: 14,
  /** In a multi's reply, the result of an operation that failed (or was not applied because another did). */
  error: -1,
  auth: 100,
  setWatches: 101,
  closeSession: -11,
} as const;

/** Xids the server and client reserve: requests use positive ones, counted up from 1. */
export const Xid = {
  /** A watch notification from the server (a WatcherEvent body). */
  notification: -1,
  ping: -2,
  auth: -4,
  setWatches: -8,
} as const;

/** `CreateMode` flags of a CreateRequest. */
export const CreateFlag = { persistent: 0, ephemeral: 1 } as const;

/** `ZooDefs.Perms` bits of an ACL entry. */
export const Perm = { read: 1, write: 2, create: 4, delete: 8, admin: 16, all: 31 } as const;

/** `Watcher.Event.EventType` values of a WatcherEvent. */
export const EventType = {
  none: -1,
  nodeCreated: 1,
  nodeDeleted: 2,
  nodeDataChanged: 3,
  nodeChildrenChanged: 4,
} as const;

/** Bytes of the session password the server hands out (and the all-zero one a new session sends). */
export const sessionPasswordBytes = 16;
