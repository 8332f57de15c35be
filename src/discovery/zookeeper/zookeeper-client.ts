import { ConfigError } from "../../wire/config-error.ts";
import { type Acl, creatorAcl, openAcl } from "./acl.ts";
import {
  type ZooKeeperConnection as Connection,
  ZooKeeperConnection,
  type ZooKeeperServer,
} from "./connection.ts";
import { ErrorCode, ZooKeeperError } from "./errors.ts";
import { defaultMaxPacketBytes, maxRequestBytes } from "./framing.ts";
import { JuteReader } from "./jute.ts";
import { CreateFlag, OpCode, Xid } from "./op-codes.ts";
import {
  type MultiResult,
  newSessionPassword,
  pingPacket,
  readCreateResponse,
  readGetAclResponse,
  readGetChildrenResponse,
  readGetDataResponse,
  readMultiResponse,
  readReplyHeader,
  readStat,
  readWatcherEvent,
  type Stat,
  writeAuth,
  writeCloseSession,
  writeCreate,
  writeDelete,
  writeGetAcl,
  writeMulti,
  writePathWatch,
  writeSetData,
  writeSetWatches,
} from "./packets.ts";
import { splitSetWatches, type WatchCallback, WatchRegistry } from "./watch-registry.ts";

export type { ZooKeeperServer } from "./connection.ts";
export type { ZooKeeperWatchEvent } from "./watch-registry.ts";

/** Options of a {@link ZooKeeperClient}. */
export interface ZooKeeperClientOptions {
  /** The ensemble's members; tried in a shuffled order, so clients spread over the ensemble. */
  servers: ReadonlyArray<{ host: string; port: number }>;
  /**
   * The session timeout asked of the server, which grants it within its 2-20 ticks (4-40 s with the
   * default tickTime of 2 s). Default 30000: it fits under the default maximum, so what is asked is what
   * is granted, and a provider killed with SIGKILL leaves the registry within 30 s. Dubbo Java
   * (`AbstractZookeeperClient`, `session` parameter) asks 60000 and is granted 40000 by a default server.
   */
  sessionTimeoutMs?: number;
  /**
   * Bound on one connection attempt (TCP connect plus the ConnectResponse). Default 10000, and while a
   * session lives at most its timeout divided by the number of servers (as the Java client does), so every
   * member can be tried before the session expires even when one swallows packets.
   */
  connectTimeoutMs?: number;
  /**
   * Bound on a request, from the call to its answer, including the time it waits for a connection.
   * Default: the session timeout (past it, a session without a connection has expired anyway).
   */
  requestTimeoutMs?: number;
  /** Digest credentials sent (`addauth digest user:password`) on every connection, first thing. */
  auth?: { user: string; password: string };
  /** Largest packet read from a server (default 4 MiB); a bigger length prefix drops the connection. */
  maxPacketBytes?: number;
  /**
   * Requests waiting for a connection or an answer, at most (default 10000); more reject at once with
   * THROTTLEDOP, so a caller looping on a dead ensemble cannot grow the client without bound.
   */
  maxPendingRequests?: number;
  /** Connection, session and protocol events, for the embedding application's log. */
  onLog?: (event: { level: "info" | "warn"; message: string; [key: string]: unknown }) => void;
}

/**
 * `connecting`: no session yet (first start, or after `expired`); `connected`: a session and a
 * connection; `disconnected`: the connection was lost, the session may live (its ephemeral nodes stay
 * while the client finds another member); `expired`: the session is gone with its ephemeral nodes and
 * watches (a new one follows at once); `closed`: after close(). Before start() the state is
 * `disconnected`.
 */
export type ZooKeeperState = "connecting" | "connected" | "disconnected" | "expired" | "closed";

/** A znode's metadata. zxids and the owner session are 64-bit: bigint; times are epoch ms. */
export type ZooKeeperStat = Stat;

type StateListener = (state: ZooKeeperState, info: { newSession: boolean }) => void;

interface Request {
  readonly op: number;
  readonly path: string | undefined;
  readonly write: (xid: number) => Buffer;
  readonly onReply: (err: number, reader: JuteReader) => void;
  readonly reject: (error: ZooKeeperError) => void;
  xid: number;
  settled: boolean;
  timer: NodeJS.Timeout | undefined;
}

const defaultSessionTimeoutMs = 30000;
const defaultConnectTimeoutMs = 10000;
/** Backoff after a pass over every member failed: doubles from the first to the last, with ±25% jitter. */
const firstBackoffMs = 50;
const maxBackoffMs = 1000;
/** How long close() waits for the server to confirm closeSession. */
const closeSessionWaitMs = 2000;

function shuffled<T>(items: ReadonlyArray<T>): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function checkPath(path: string): void {
  if (typeof path !== "string" || !path.startsWith("/") || (path.length > 1 && path.endsWith("/")))
    throw new ZooKeeperError(ErrorCode.BADARGUMENTS, "a path starts with / and does not end with one", path);
}

/**
 * A ZooKeeper session over the client protocol, on node:net alone: it connects to a shuffled member,
 * keeps the session alive with pings, moves to another member when its connection dies (same session
 * id, so ephemeral nodes and watches stay), re-arms watches with SetWatches, resends digest auth, and
 * when the session expires says so (`expired`) and starts a new one (`connected` with `newSession`),
 * after which owners re-create their ephemeral nodes.
 *
 * Every request is bounded by `requestTimeoutMs`; requests in flight when a connection drops reject with
 * CONNECTIONLOSS (the caller decides whether to retry: a create may or may not have happened).
 */
export class ZooKeeperClient {
  readonly #servers: ZooKeeperServer[];
  readonly #sessionTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #requestTimeoutMs: number;
  readonly #maxPacketBytes: number;
  readonly #maxPendingRequests: number;
  readonly #auth: { user: string; password: string } | undefined;
  readonly #log: NonNullable<ZooKeeperClientOptions["onLog"]>;
  readonly #watches = new WatchRegistry();
  readonly #listeners = new Set<StateListener>();

  #state: ZooKeeperState = "disconnected";
  #started = false;
  #next = 0;
  #sessionId = 0n;
  #password: Uint8Array = newSessionPassword;
  #negotiatedTimeoutMs = 0;
  #lastZxid = 0n;
  #lostAt = 0;
  /** A session declared expired locally, closed on the server when a member is reached again. */
  #stale: { sessionId: bigint; password: Uint8Array } | undefined;
  #connection: Connection | undefined;
  /** A connection still in its handshake, destroyed by close(). */
  #opening: Connection | undefined;
  #closing = false;
  #xid = 0;
  #inFlight: Request[] = [];
  #waiting: Request[] = [];
  #pingTimer: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;
  #sleepTimer: NodeJS.Timeout | undefined;

  constructor(options: ZooKeeperClientOptions) {
    if (!Array.isArray(options.servers) || options.servers.length === 0)
      throw new ConfigError("ZooKeeperClient: servers must list at least one member");
    for (const server of options.servers) {
      if (typeof server.host !== "string" || server.host === "")
        throw new ConfigError("ZooKeeperClient: a server has no host");
      if (!Number.isInteger(server.port) || server.port < 1 || server.port > 65535)
        throw new ConfigError(`ZooKeeperClient: port ${server.port} of ${server.host} is not a TCP port`);
    }
    const positive = (name: string, value: number | undefined, fallback: number): number => {
      if (value === undefined) return fallback;
      if (!Number.isFinite(value) || value <= 0)
        throw new ConfigError(`ZooKeeperClient: ${name} must be a positive number of ms, got ${value}`);
      return value;
    };
    this.#servers = shuffled(options.servers.map(({ host, port }) => ({ host, port })));
    this.#sessionTimeoutMs = positive("sessionTimeoutMs", options.sessionTimeoutMs, defaultSessionTimeoutMs);
    this.#connectTimeoutMs = positive("connectTimeoutMs", options.connectTimeoutMs, defaultConnectTimeoutMs);
    this.#requestTimeoutMs = positive("requestTimeoutMs", options.requestTimeoutMs, this.#sessionTimeoutMs);
    this.#maxPacketBytes = positive("maxPacketBytes", options.maxPacketBytes, defaultMaxPacketBytes);
    this.#maxPendingRequests = positive("maxPendingRequests", options.maxPendingRequests, 10000);
    if (options.auth !== undefined && (typeof options.auth.user !== "string" || options.auth.user === ""))
      throw new ConfigError("ZooKeeperClient: auth needs a user");
    this.#auth = options.auth;
    const onLog = options.onLog;
    this.#log = (event) => {
      try {
        onLog?.(event);
      } catch {
        // A throwing logger must not break the session.
      }
    };
  }

  /** The session's state; see {@link ZooKeeperState}. */
  get state(): ZooKeeperState {
    return this.#state;
  }

  /** The current session's id, or undefined before the first session and after it expired or closed. */
  get sessionId(): bigint | undefined {
    return this.#sessionId === 0n ? undefined : this.#sessionId;
  }

  /** The session timeout the server granted (0 before the first session). */
  get negotiatedTimeoutMs(): number {
    return this.#negotiatedTimeoutMs;
  }

  /** The member the client is connected to, or undefined while it is not. */
  get currentServer(): ZooKeeperServer | undefined {
    return this.#state === "connected" && this.#connection ? { ...this.#connection.server } : undefined;
  }

  /** Begins connecting in the background; never throws for unreachable servers (they are retried). */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#setState("connecting", false);
    void this.#run();
  }

  /** Calls `listener` on every state change; returns the unsubscribe function. */
  onState(listener: StateListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Resolves once connected; rejects with CONNECTIONLOSS after `timeoutMs` or when the client closes. */
  waitConnected(timeoutMs: number): Promise<void> {
    if (this.#state === "connected") return Promise.resolve();
    if (this.#state === "closed")
      return Promise.reject(new ZooKeeperError(ErrorCode.CONNECTIONLOSS, "the client is closed"));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        unsubscribe();
        reject(new ZooKeeperError(ErrorCode.CONNECTIONLOSS, `not connected within ${timeoutMs} ms`));
      }, timeoutMs);
      const unsubscribe = this.onState((state) => {
        if (state !== "connected" && state !== "closed") return;
        clearTimeout(timer);
        unsubscribe();
        if (state === "connected") resolve();
        else reject(new ZooKeeperError(ErrorCode.CONNECTIONLOSS, "the client is closed"));
      });
    });
  }

  /** Creates a node and resolves with its path. `acl` "creator" needs `auth` (all rights to it, read to all). */
  create(
    path: string,
    data: Uint8Array,
    mode: "persistent" | "ephemeral",
    acl: "open" | "creator" = "open",
  ): Promise<string> {
    return this.#call(OpCode.create, path, (resolve) => {
      const flags = mode === "ephemeral" ? CreateFlag.ephemeral : CreateFlag.persistent;
      const acls = this.#acl(acl, path);
      return {
        write: (xid) => writeCreate(xid, path, data, acls, flags),
        onReply: (reader) => resolve(readCreateResponse(reader)),
      };
    });
  }

  /** Deletes a node; `version` -1 (the default) deletes whatever its version. */
  delete(path: string, version = -1): Promise<void> {
    return this.#call(OpCode.delete, path, (resolve) => ({
      write: (xid) => writeDelete(xid, path, version),
      onReply: () => resolve(),
    }));
  }

  /**
   * Deletes `path` (whatever its version) and creates it again with `data`, in one transaction (a multi):
   * watchers never see it missing, and if either step fails neither is applied. For an ephemeral node left
   * by another session (which this session cannot take over): a consumer watching the parent sees one
   * change and reads the new node, where a delete then a create would show it gone in between. Resolves
   * with the created path; rejects with the ZooKeeperError of the step that failed (NONODE: nothing to
   * replace).
   */
  async replace(
    path: string,
    data: Uint8Array,
    mode: "persistent" | "ephemeral",
    acl: "open" | "creator" = "open",
  ): Promise<string> {
    const flags = mode === "ephemeral" ? CreateFlag.ephemeral : CreateFlag.persistent;
    const acls = this.#acl(acl, path);
    const results = await this.#call<MultiResult[]>(OpCode.multi, path, (resolve) => ({
      write: (xid) =>
        writeMulti(xid, [
          { op: "delete", path, version: -1 },
          { op: "create", path, data, acl: acls, flags },
        ]),
      onReply: (reader) => resolve(readMultiResponse(reader)),
    }));
    const failed = multiFailure(results);
    if (failed !== undefined)
      throw new ZooKeeperError(failed, "the replace (delete + create in one multi) was not applied", path);
    const created = results[1];
    return created?.op === "create" ? created.path : path;
  }

  /**
   * The node's stat, or null when it does not exist; `watch` fires once on its creation, change or
   * deletion (whichever comes first).
   */
  exists(path: string, watch?: WatchCallback): Promise<ZooKeeperStat | null> {
    return this.#call(OpCode.exists, path, (resolve) => ({
      write: (xid) => writePathWatch(xid, OpCode.exists, path, watch !== undefined),
      onReply: (reader) => {
        if (watch) this.#watches.add("data", path, watch);
        resolve(readStat(reader));
      },
      onError: (err) => {
        if (err !== ErrorCode.NONODE) return false;
        if (watch) this.#watches.add("exist", path, watch);
        resolve(null);
        return true;
      },
    }));
  }

  /** The node's data and stat; `watch` fires once on its change or deletion. */
  getData(path: string, watch?: WatchCallback): Promise<{ data: Buffer; stat: ZooKeeperStat }> {
    return this.#call(OpCode.getData, path, (resolve) => ({
      write: (xid) => writePathWatch(xid, OpCode.getData, path, watch !== undefined),
      onReply: (reader) => {
        if (watch) this.#watches.add("data", path, watch);
        resolve(readGetDataResponse(reader));
      },
    }));
  }

  /** The node's ACL (what `getAcl` in zkCli shows) and stat: to check what a create left on a node. */
  getACL(path: string): Promise<{ acl: Acl[]; stat: ZooKeeperStat }> {
    return this.#call(OpCode.getACL, path, (resolve) => ({
      write: (xid) => writeGetAcl(xid, path),
      onReply: (reader) => resolve(readGetAclResponse(reader)),
    }));
  }

  /** Writes the node's data if its version is `version` (-1, the default: any) and resolves with the new stat. */
  setData(path: string, data: Uint8Array, version = -1): Promise<ZooKeeperStat> {
    return this.#call(OpCode.setData, path, (resolve) => ({
      write: (xid) => writeSetData(xid, path, data, version),
      onReply: (reader) => resolve(readStat(reader)),
    }));
  }

  /** The node's children's names; `watch` fires once when one is added or removed, or the node is deleted. */
  getChildren(path: string, watch?: WatchCallback): Promise<string[]> {
    return this.#call(OpCode.getChildren, path, (resolve) => ({
      write: (xid) => writePathWatch(xid, OpCode.getChildren, path, watch !== undefined),
      onReply: (reader) => {
        if (watch) this.#watches.add("child", path, watch);
        resolve(readGetChildrenResponse(reader));
      },
    }));
  }

  /** Creates `path` and its missing parents as persistent nodes with empty data; existing ones are kept. */
  async ensurePath(path: string, acl: "open" | "creator" = "open"): Promise<void> {
    checkPath(path);
    if (path === "/" || (await this.exists(path)) !== null) return;
    const parts = path.split("/").slice(1);
    let current = "";
    for (const part of parts) {
      current += `/${part}`;
      try {
        await this.create(current, Buffer.alloc(0), "persistent", acl);
      } catch (error) {
        if (!(error instanceof ZooKeeperError) || error.code !== ErrorCode.NODEEXISTS) throw error;
      }
    }
  }

  /**
   * Closes the session (the server deletes its ephemeral nodes at once) and the connection. Requests not
   * sent yet reject with CONNECTIONLOSS; those sent before get their answers first.
   */
  async close(): Promise<void> {
    if (this.#state === "closed" || this.#closing) return;
    this.#closing = true;
    const connection = this.#state === "connected" ? this.#connection : undefined;
    this.#started = true;
    if (connection !== undefined) {
      const closed = new Promise<void>((resolve) => connection.onClose(() => resolve()));
      const xid = this.#nextXid();
      const reply = new Promise<void>((resolve) => {
        const request: Request = {
          op: OpCode.closeSession,
          path: undefined,
          write: () => writeCloseSession(xid),
          onReply: () => resolve(),
          reject: () => resolve(),
          xid,
          settled: false,
          timer: undefined,
        };
        this.#inFlight.push(request);
        connection.send(request.write(xid));
      });
      this.#failWaiting("the client is closing");
      let timer: NodeJS.Timeout | undefined;
      const waited = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, closeSessionWaitMs);
      });
      await Promise.race([Promise.all([reply, closed]), reply.then(() => waited), waited]);
      clearTimeout(timer);
    }
    this.#shutdown();
  }

  /** A method, not a field read, so TypeScript does not narrow the state across awaits. */
  #isClosed(): boolean {
    return this.#state === "closed";
  }

  #shutdown(): void {
    if (this.#state === "closed") return;
    this.#setState("closed", false);
    this.#stopPing();
    this.#connection?.destroy();
    this.#connection = undefined;
    this.#opening?.destroy();
    this.#failWaiting("the client is closed");
    this.#failInFlight("the client is closed");
    this.#watches.clear();
    this.#sessionId = 0n;
    if (this.#sleepTimer !== undefined) clearTimeout(this.#sleepTimer);
    this.#wake?.();
  }

  #acl(acl: "open" | "creator", path: string): ReadonlyArray<Acl> {
    if (acl === "open") return openAcl;
    if (this.#auth === undefined)
      throw new ZooKeeperError(ErrorCode.INVALIDACL, "the creator ACL needs the client's auth option", path);
    return creatorAcl(this.#auth.user, this.#auth.password);
  }

  // --- requests -------------------------------------------------------------------------------------

  #call<T>(
    op: number,
    path: string,
    build: (resolve: (value: T) => void) => {
      write: (xid: number) => Buffer;
      onReply: (reader: JuteReader) => void;
      onError?: (err: number) => boolean;
    },
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      checkPath(path);
      if (this.#state === "closed")
        throw new ZooKeeperError(ErrorCode.CONNECTIONLOSS, "the client is closed", path);
      if (this.#waiting.length + this.#inFlight.length >= this.#maxPendingRequests)
        throw new ZooKeeperError(
          ErrorCode.THROTTLEDOP,
          `${this.#maxPendingRequests} requests are already pending`,
          path,
        );
      const { write, onReply, onError } = build(resolve);
      // Size is known only once written: written once with xid 0 here, again with its xid when sent.
      const size = write(0).length;
      if (size > maxRequestBytes)
        throw new ZooKeeperError(
          ErrorCode.BADARGUMENTS,
          `a request of ${size} bytes is over the server's jute.maxbuffer default of ${maxRequestBytes}`,
          path,
        );
      const request: Request = {
        op,
        path,
        write,
        onReply: (err, reader) => {
          if (err === ErrorCode.OK) onReply(reader);
          else if (!onError?.(err)) reject(new ZooKeeperError(err, undefined, path));
        },
        reject,
        xid: 0,
        settled: false,
        timer: undefined,
      };
      request.timer = setTimeout(() => this.#timeout(request), this.#requestTimeoutMs);
      if (this.#state === "connected" && this.#connection !== undefined)
        this.#send(this.#connection, request);
      else this.#waiting.push(request);
    });
  }

  #timeout(request: Request): void {
    if (request.settled) return;
    request.settled = true;
    const waiting = this.#waiting.indexOf(request);
    if (waiting >= 0) {
      this.#waiting.splice(waiting, 1);
      request.reject(
        new ZooKeeperError(
          ErrorCode.CONNECTIONLOSS,
          `no connection to the ensemble within ${this.#requestTimeoutMs} ms`,
          request.path,
        ),
      );
      return;
    }
    // Sent: it stays in the in-flight queue so the replies after it still line up by xid.
    request.reject(
      new ZooKeeperError(
        ErrorCode.REQUESTTIMEOUT,
        `no answer within ${this.#requestTimeoutMs} ms`,
        request.path,
      ),
    );
  }

  #nextXid(): number {
    this.#xid = this.#xid >= 0x7fffffff ? 1 : this.#xid + 1;
    return this.#xid;
  }

  #send(connection: Connection, request: Request): void {
    request.xid = this.#nextXid();
    this.#inFlight.push(request);
    connection.send(request.write(request.xid));
  }

  #settle(request: Request): boolean {
    if (request.settled) return false;
    request.settled = true;
    if (request.timer !== undefined) clearTimeout(request.timer);
    return true;
  }

  #failWaiting(message: string): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const request of waiting)
      if (this.#settle(request))
        request.reject(new ZooKeeperError(ErrorCode.CONNECTIONLOSS, message, request.path));
  }

  #failInFlight(message: string): void {
    const inFlight = this.#inFlight;
    this.#inFlight = [];
    for (const request of inFlight)
      if (this.#settle(request))
        request.reject(new ZooKeeperError(ErrorCode.CONNECTIONLOSS, message, request.path));
  }

  // --- packets from the server ----------------------------------------------------------------------

  #packet(connection: Connection, packet: Buffer): void {
    const reader = new JuteReader(packet);
    const header = readReplyHeader(reader);
    if (header.zxid > this.#lastZxid) this.#lastZxid = header.zxid;
    switch (header.xid) {
      case Xid.ping:
        return;
      case Xid.notification:
        this.#notify(readWatcherEvent(reader));
        return;
      case Xid.auth:
        if (header.err !== ErrorCode.OK)
          this.#log({ level: "warn", message: "zookeeper auth refused", code: header.err });
        return;
      case Xid.setWatches:
        if (header.err !== ErrorCode.OK)
          this.#log({ level: "warn", message: "zookeeper SetWatches refused", code: header.err });
        return;
    }
    const request = this.#inFlight[0];
    if (request === undefined || request.xid !== header.xid) {
      // The server answers in order: anything else means the stream cannot be trusted.
      connection.destroy(
        new ZooKeeperError(
          ErrorCode.MARSHALLINGERROR,
          `reply xid ${header.xid} while ${request?.xid ?? "nothing"} was expected`,
        ),
      );
      return;
    }
    this.#inFlight.shift();
    if (!this.#settle(request)) return;
    try {
      request.onReply(header.err, reader);
    } catch (error) {
      request.reject(
        error instanceof ZooKeeperError
          ? error
          : new ZooKeeperError(ErrorCode.MARSHALLINGERROR, String(error), request.path),
      );
    }
  }

  #notify(event: { type: number; path: string }): void {
    const fired = this.#watches.fire(event.type, event.path);
    if (fired === undefined) return;
    for (const callback of fired.callbacks) {
      try {
        callback(fired.event);
      } catch (error) {
        this.#log({ level: "warn", message: "a zookeeper watch callback threw", path: event.path, error });
      }
    }
  }

  // --- the session loop -----------------------------------------------------------------------------

  #setState(state: ZooKeeperState, newSession: boolean): void {
    if (this.#state === state) return;
    this.#state = state;
    for (const listener of [...this.#listeners]) {
      try {
        listener(state, { newSession });
      } catch (error) {
        this.#log({ level: "warn", message: "a zookeeper state listener threw", error });
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
      this.#sleepTimer = setTimeout(resolve, ms);
    });
  }

  #server(): ZooKeeperServer {
    const server = this.#servers[this.#next % this.#servers.length]!;
    this.#next = (this.#next + 1) % this.#servers.length;
    return server;
  }

  #attemptTimeoutMs(): number {
    if (this.#sessionId === 0n) return this.#connectTimeoutMs;
    return Math.max(200, Math.min(this.#connectTimeoutMs, this.#negotiatedTimeoutMs / this.#servers.length));
  }

  /** Past the session timeout without a connection, the ensemble has expired the session (as Curator assumes). */
  #checkLocalExpiry(): void {
    if (this.#sessionId === 0n || this.#lostAt === 0) return;
    const down = performance.now() - this.#lostAt;
    if (down < this.#negotiatedTimeoutMs) return;
    this.#log({
      level: "warn",
      message: "zookeeper session expired: no member reached within the session timeout",
      sessionId: `0x${this.#sessionId.toString(16)}`,
      downMs: Math.round(down),
    });
    this.#stale = { sessionId: this.#sessionId, password: this.#password };
    this.#expire();
  }

  #expire(): void {
    this.#sessionId = 0n;
    this.#password = newSessionPassword;
    this.#lastZxid = 0n;
    this.#lostAt = 0;
    this.#watches.clear();
    this.#failInFlight("the session expired");
    this.#setState("expired", false);
    this.#setState("connecting", false);
  }

  async #run(): Promise<void> {
    let failedPasses = 0;
    let failuresThisPass = 0;
    while (this.#state !== "closed") {
      this.#checkLocalExpiry();
      const server = this.#server();
      try {
        if (this.#stale !== undefined) await this.#closeStale(server);
        const connected = await this.#connect(server);
        if (!connected) continue;
        failedPasses = 0;
        failuresThisPass = 0;
        await new Promise<void>((resolve) => this.#connection!.onClose(() => resolve()));
      } catch (error) {
        if (this.#isClosed()) return;
        this.#log({
          level: "warn",
          message: "zookeeper connection attempt failed",
          server: `${server.host}:${server.port}`,
          error: (error as Error).message,
        });
        failuresThisPass++;
        if (failuresThisPass >= this.#servers.length) {
          failuresThisPass = 0;
          failedPasses++;
          await this.#sleep(this.#backoffMs(failedPasses));
        }
      }
    }
  }

  #backoffMs(failedPasses: number): number {
    let ms = Math.min(maxBackoffMs, firstBackoffMs * 2 ** Math.min(failedPasses - 1, 10));
    // While a session lives, retry often enough to reach a member well within its timeout.
    if (this.#sessionId !== 0n) ms = Math.min(ms, this.#negotiatedTimeoutMs / 4);
    return ms * (0.75 + Math.random() * 0.5);
  }

  /**
   * One connection attempt. Resolves true once connected (the connection is then the client's), false when
   * the server answered that the session expired (a new one is started by the next attempt).
   */
  async #connect(server: ZooKeeperServer): Promise<boolean> {
    const timeoutMs = this.#attemptTimeoutMs();
    const connection = await ZooKeeperConnection.open(server, timeoutMs, this.#maxPacketBytes);
    if (this.#isClosed()) {
      connection.destroy();
      return false;
    }
    this.#opening = connection;
    const resuming = this.#sessionId !== 0n;
    let response: Awaited<ReturnType<Connection["handshake"]>>;
    try {
      response = await connection.handshake(
        {
          lastZxidSeen: this.#lastZxid,
          timeoutMs: this.#sessionTimeoutMs,
          sessionId: this.#sessionId,
          password: this.#password,
        },
        timeoutMs,
      );
    } catch (error) {
      connection.destroy();
      throw error;
    } finally {
      this.#opening = undefined;
    }
    if (this.#isClosed()) {
      connection.destroy();
      return false;
    }
    if (response.timeoutMs <= 0) {
      connection.destroy();
      this.#log({
        level: "warn",
        message: "zookeeper session expired",
        sessionId: `0x${this.#sessionId.toString(16)}`,
        server: `${server.host}:${server.port}`,
      });
      this.#expire();
      return false;
    }
    const newSession = !resuming || response.sessionId !== this.#sessionId;
    this.#sessionId = response.sessionId;
    this.#password = Buffer.from(response.password);
    this.#negotiatedTimeoutMs = response.timeoutMs;
    this.#lostAt = 0;
    this.#connection = connection;
    connection.setPacketHandler((packet) => this.#packet(connection, packet));
    connection.setReadTimeout((response.timeoutMs * 2) / 3);
    connection.onClose((error) => this.#lost(connection, error));
    // Order matters: the server handles packets in order, so auth comes before anything it guards.
    if (this.#auth !== undefined)
      connection.send(writeAuth("digest", Buffer.from(`${this.#auth.user}:${this.#auth.password}`)));
    if (!newSession)
      for (const packet of splitSetWatches(this.#watches.toSetWatches(this.#lastZxid)))
        connection.send(writeSetWatches(packet));
    this.#startPing(connection, response.timeoutMs / 3);
    this.#log({
      level: "info",
      message: newSession ? "zookeeper session established" : "zookeeper session resumed",
      sessionId: `0x${response.sessionId.toString(16)}`,
      server: `${server.host}:${server.port}`,
      timeoutMs: response.timeoutMs,
    });
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const request of waiting) if (!request.settled) this.#send(connection, request);
    this.#setState("connected", newSession);
    return true;
  }

  #lost(connection: Connection, error: Error | undefined): void {
    if (this.#connection !== connection) return;
    this.#connection = undefined;
    this.#stopPing();
    this.#failInFlight(`connection to ${connection.server.host}:${connection.server.port} lost`);
    if (this.#state === "closed" || this.#closing) return;
    this.#lostAt = performance.now();
    this.#log({
      level: "warn",
      message: "zookeeper connection lost",
      server: `${connection.server.host}:${connection.server.port}`,
      error: error?.message,
    });
    this.#setState("disconnected", false);
  }

  #startPing(connection: Connection, intervalMs: number): void {
    this.#stopPing();
    this.#pingTimer = setInterval(() => {
      if (performance.now() - connection.lastSendAt >= intervalMs * 0.9) connection.send(pingPacket);
    }, intervalMs);
  }

  #stopPing(): void {
    if (this.#pingTimer !== undefined) clearInterval(this.#pingTimer);
    this.#pingTimer = undefined;
  }

  /**
   * Closes a session this client declared expired, if the ensemble still knows it (a restarted ensemble
   * revives the sessions it had, with a fresh timeout): its ephemeral nodes then go now instead of a
   * session timeout later, so they never stand beside the new session's.
   */
  async #closeStale(server: ZooKeeperServer): Promise<void> {
    const stale = this.#stale!;
    const timeoutMs = this.#connectTimeoutMs;
    const connection = await ZooKeeperConnection.open(server, timeoutMs, this.#maxPacketBytes);
    this.#opening = connection;
    try {
      const response = await connection.handshake(
        {
          lastZxidSeen: 0n,
          timeoutMs: this.#sessionTimeoutMs,
          sessionId: stale.sessionId,
          password: stale.password,
        },
        timeoutMs,
      );
      this.#stale = undefined;
      if (response.timeoutMs <= 0) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        connection.onClose(() => {
          clearTimeout(timer);
          resolve();
        });
        connection.setPacketHandler(() => {
          clearTimeout(timer);
          resolve();
        });
        connection.send(writeCloseSession(1));
      });
      this.#log({
        level: "info",
        message: "zookeeper expired session closed on the server",
        sessionId: `0x${stale.sessionId.toString(16)}`,
      });
    } finally {
      this.#opening = undefined;
      connection.destroy();
    }
  }
}

/**
 * The error of a multi that was not applied: the code of the operation that failed. The server answers every
 * operation of a failed multi with an error result: the culprit's own code, OK (0) for those before it and
 * RUNTIMEINCONSISTENCY for those after (ZooKeeper.multiInternal reports the first that is not OK).
 */
function multiFailure(results: readonly MultiResult[]): number | undefined {
  for (const result of results) if (result.op === "error" && result.err !== ErrorCode.OK) return result.err;
  return undefined;
}
