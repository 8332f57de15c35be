import { EventType } from "./op-codes.ts";
import type { SetWatches } from "./packets.ts";

/** A watch notification handed to the callback given with exists/getData/getChildren. */
export interface ZooKeeperWatchEvent {
  type: "created" | "deleted" | "changed" | "children";
  path: string;
}

export type WatchCallback = (event: ZooKeeperWatchEvent) => void;

/** Which server-side watch a request set: data (getData, exists on a node), exist (exists on no node), child. */
export type WatchKind = "data" | "exist" | "child";

/**
 * The client's side of ZooKeeper's one-shot watches (`ZKWatchManager` in apache/zookeeper): callbacks by
 * path and kind. The server keeps one watch per path and kind per session and fires it once; this maps a
 * WatcherEvent back to every callback waiting on it, and lists the paths to re-arm after a reconnect.
 */
export class WatchRegistry {
  readonly #watches: Record<WatchKind, Map<string, Set<WatchCallback>>> = {
    data: new Map(),
    exist: new Map(),
    child: new Map(),
  };

  /** Callbacks registered, over every path and kind. */
  get size(): number {
    let n = 0;
    for (const map of Object.values(this.#watches)) for (const set of map.values()) n += set.size;
    return n;
  }

  add(kind: WatchKind, path: string, callback: WatchCallback): void {
    const map = this.#watches[kind];
    let set = map.get(path);
    if (set === undefined) {
      set = new Set();
      map.set(path, set);
    }
    set.add(callback);
  }

  #take(kind: WatchKind, path: string, into: Set<WatchCallback>): void {
    const map = this.#watches[kind];
    const set = map.get(path);
    if (set === undefined) return;
    map.delete(path);
    for (const callback of set) into.add(callback);
  }

  /**
   * Removes and returns the callbacks a server event fires, with the event to give them; undefined for an
   * event type this client does not watch for (e.g. a removed-watch notice).
   */
  fire(type: number, path: string): { event: ZooKeeperWatchEvent; callbacks: WatchCallback[] } | undefined {
    const callbacks = new Set<WatchCallback>();
    let kind: ZooKeeperWatchEvent["type"];
    switch (type) {
      case EventType.nodeCreated:
        kind = "created";
        this.#take("data", path, callbacks);
        this.#take("exist", path, callbacks);
        break;
      case EventType.nodeDataChanged:
        kind = "changed";
        this.#take("data", path, callbacks);
        this.#take("exist", path, callbacks);
        break;
      case EventType.nodeDeleted:
        kind = "deleted";
        this.#take("data", path, callbacks);
        this.#take("exist", path, callbacks);
        this.#take("child", path, callbacks);
        break;
      case EventType.nodeChildrenChanged:
        kind = "children";
        this.#take("child", path, callbacks);
        break;
      default:
        return undefined;
    }
    return { event: { type: kind, path }, callbacks: [...callbacks] };
  }

  /** The paths to re-arm with SetWatches after a reconnect to the same session. */
  toSetWatches(relativeZxid: bigint): SetWatches {
    return {
      relativeZxid,
      dataWatches: [...this.#watches.data.keys()],
      existWatches: [...this.#watches.exist.keys()],
      childWatches: [...this.#watches.child.keys()],
    };
  }

  /** Drops every watch (the session expired or the client closed: the server forgot them too). */
  clear(): void {
    for (const map of Object.values(this.#watches)) map.clear();
  }
}

/**
 * Splits SetWatches into packets of at most about `maxBytes` of paths each, as the Java client does
 * (128 KiB), so a client with many watches never sends a packet the server refuses.
 */
export function splitSetWatches(watches: SetWatches, maxBytes = 128 * 1024): SetWatches[] {
  const out: SetWatches[] = [];
  let current: SetWatches | undefined;
  let bytes = 0;
  const kinds = ["dataWatches", "existWatches", "childWatches"] as const;
  for (const kind of kinds) {
    for (const path of watches[kind]) {
      const size = 4 + Buffer.byteLength(path);
      if (current === undefined || bytes + size > maxBytes) {
        current = { relativeZxid: watches.relativeZxid, dataWatches: [], existWatches: [], childWatches: [] };
        out.push(current);
        bytes = 0;
      }
      current[kind].push(path);
      bytes += size;
    }
  }
  return out;
}
