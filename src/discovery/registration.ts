// Registration gated by health: the znodes a provider has in ZooKeeper follow its statuses, at once,
// both ways, and survive reconnects and session expiry (re-created in the new session).
import { ServingStatus } from "../codec/health-types.ts";
import type { HealthRegistry } from "../health/registry.ts";
import { serviceKey } from "../health/service-key.ts";
import {
  buildProviderUrl,
  type ProviderExport,
  type ProviderIdentity,
  providerNodePath,
} from "./dubbo/interface-url.ts";
import { registerMapping } from "./dubbo/mapping.ts";
import { buildMetadataInfo, type MetadataInfo } from "./dubbo/metadata-info.ts";
import { buildInstanceJson, instancePath } from "./dubbo/service-instance.ts";
import { type RegistryClient, zooKeeperCode } from "./registry-client.ts";

/** Which of Dubbo's levels are written: both (Dubbo Java's default), interface nodes, or the instance. */
export type RegisterMode = "all" | "interface" | "instance";

/** One thing that happened to the registration, for logs (`-log json`) and the admin surface. */
export interface RegistrationEvent {
  kind:
    | "registered"
    | "unregistered"
    | "session-connected"
    | "session-lost"
    | "session-expired"
    | "session-reestablished"
    | "error";
  /** The znode, for registered/unregistered/error. */
  path?: string;
  /** What went wrong, for error. */
  message?: string;
  time: number;
}

/** What the registrar holds now: for `/admin/health`, the status page and tests. */
export interface RegistrationSnapshot {
  /** The registry, as given (`zookeeper://…`), credentials left out. */
  registry: string;
  mode: RegisterMode;
  application: string;
  /** host:port registered. */
  address: string;
  session: RegistryClient["state"];
  /** Every znode this provider has now, sorted. */
  nodes: string[];
  /** The MetadataInfo revision the instance node carries. */
  revision: string;
  lastError: string | undefined;
}

/** Options of a {@link Registrar}. @internal */
export interface RegistrarOptions {
  client: RegistryClient;
  /** How the registry is named in the snapshot (no credentials). */
  registry: string;
  /** Root of the interface layout and the mapping (`dubbo`). */
  root: string;
  health: HealthRegistry;
  mode: RegisterMode;
  /** The exports to register (never the health or metadata services), asked at each reconcile. */
  exports: () => readonly ProviderExport[];
  identity: ProviderIdentity;
  /**
   * `creator` when the registry URL has credentials: only this provider's user may change or delete its
   * nodes and the parents it creates; everyone may read them.
   */
  acl?: "open" | "creator";
  onEvent?: (event: RegistrationEvent) => void;
  now?: () => number;
}

/**
 * Keeps ZooKeeper equal to what health says: an export's interface node exists iff its service key
 * and `""` are SERVING; the instance node exists iff `""` is SERVING, and its revision is that of the
 * MetadataInfo of the exports SERVING. Runs at every health change, at every (re)connect, and after an
 * expiry (a new session re-creates exactly what should exist). One reconcile runs at a time; changes
 * during it are picked up by one more run.
 * @internal
 */
export class Registrar {
  readonly #options: RegistrarOptions;
  readonly #now: () => number;
  // What exists in the current session (path → data written).
  readonly #nodes = new Map<string, string>();
  readonly #mapped = new Set<string>();
  readonly #reported = new Set<string>();
  #metadata: MetadataInfo;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;
  #lastError: string | undefined;
  #hadSession = false;
  #unsubscribe: Array<() => void> = [];

  constructor(options: RegistrarOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#metadata = buildMetadataInfo([], options.identity);
  }

  /** Starts following health and the session, and starts the client (a no-op when it runs). */
  start(): void {
    const { health, client } = this.#options;
    this.#unsubscribe.push(
      health.onChange(() => this.reconcile()),
      health.onModeChange(() => this.reconcile()),
      client.onState((state, { newSession }) => this.#onState(state, newSession)),
    );
    client.start();
    this.reconcile();
  }

  /** The MetadataInfo of the exports registered now (what MetadataServiceV2 answers). */
  get metadata(): MetadataInfo {
    return this.#metadata;
  }

  /** What is registered now. */
  get snapshot(): RegistrationSnapshot {
    const { identity } = this.#options;
    return {
      registry: this.#options.registry,
      mode: this.#options.mode,
      application: identity.application,
      address: `${identity.host}:${identity.port}`,
      session: this.#options.client.state,
      nodes: [...this.#nodes.keys()].sort(),
      revision: this.#metadata.version,
      lastError: this.#lastError,
    };
  }

  /** Runs a reconcile now (one more after the one running); resolves once ZooKeeper matches or it failed. */
  reconcile(): Promise<void> {
    if (this.#running !== undefined) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#loop().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Deletes every node and stops registering (the first step of a shutdown). */
  unregister(): Promise<void> {
    this.#stopped = true;
    return this.reconcile();
  }

  /** Stops following health and the session (after {@link unregister}; the client is the caller's). */
  close(): void {
    this.#stopped = true;
    for (const off of this.#unsubscribe.splice(0)) off();
  }

  #onState(state: RegistryClient["state"], newSession: boolean): void {
    if (state === "connected") {
      if (newSession) {
        // Ephemeral nodes die with their session: nothing of ours exists in the new one.
        this.#nodes.clear();
        this.#event({ kind: this.#hadSession ? "session-reestablished" : "session-connected" });
      } else this.#event({ kind: "session-connected" });
      this.#hadSession = true;
      this.reconcile();
    } else if (state === "disconnected") this.#event({ kind: "session-lost" });
    else if (state === "expired") {
      this.#nodes.clear();
      this.#event({ kind: "session-expired" });
    }
  }

  async #loop(): Promise<void> {
    do {
      this.#again = false;
      await this.#reconcileOnce();
    } while (this.#again);
  }

  // The nodes that should exist now, by path, with their data.
  #desired(): Map<string, string> {
    const { health, mode, identity, root } = this.#options;
    const desired = new Map<string, string>();
    const serving = (name: string) => health.get(name) === ServingStatus.Serving;
    const whole = !this.#stopped && serving("");
    const live = whole
      ? this.#options.exports().filter((e) => serving(serviceKey(e.service, e.group, e.version)))
      : [];
    if (mode !== "instance")
      for (const exported of live)
        desired.set(providerNodePath(root, exported.service, buildProviderUrl(exported, identity)), "");
    this.#metadata = buildMetadataInfo(live, identity);
    if (mode !== "interface" && whole)
      desired.set(
        instancePath(identity.application, identity.host, identity.port),
        buildInstanceJson({
          app: identity.application,
          host: identity.host,
          port: identity.port,
          revision: this.#metadata.version,
          registeredAt: identity.timestamp,
        }),
      );
    return desired;
  }

  async #reconcileOnce(): Promise<void> {
    const { client } = this.#options;
    const desired = this.#desired();
    if (client.state !== "connected") return;
    // Each step's requests are pipelined on the session, which ZooKeeper answers in order: one request at a
    // time, 100 exports took 2 to 7 s to register (a round trip per request, several per node).
    try {
      await settleAll(
        [...this.#nodes.keys()].filter((path) => !desired.has(path)).map((path) => this.#delete(path)),
      );
      await settleAll(
        [...desired]
          .filter(([path, data]) => this.#nodes.get(path) !== data)
          .map(([path, data]) => this.#put(path, data)),
      );
      if (this.#options.mode !== "interface" && !this.#stopped) await this.#mapExports();
      this.#lastError = undefined;
    } catch (error) {
      this.#failed(error);
    }
  }

  // A node created, or republished in place when it exists (the instance's new revision).
  async #put(path: string, data: string): Promise<void> {
    if (this.#nodes.has(path) && (await this.#update(path, data))) return;
    await this.#create(path, data);
  }

  // The instance republished in place (a new revision); false when the node is gone (deleted by hand).
  async #update(path: string, data: string): Promise<boolean> {
    try {
      await this.#options.client.setData(path, Buffer.from(data), -1);
    } catch (error) {
      if (zooKeeperCode(error) !== "NONODE") throw error;
      this.#nodes.delete(path);
      return false;
    }
    this.#nodes.set(path, data);
    this.#event({ kind: "registered", path });
    return true;
  }

  async #delete(path: string): Promise<void> {
    try {
      await this.#options.client.delete(path, -1);
    } catch (error) {
      if (zooKeeperCode(error) !== "NONODE") throw error;
    }
    this.#nodes.delete(path);
    this.#event({ kind: "unregistered", path });
  }

  async #create(path: string, data: string): Promise<void> {
    const { client, acl } = this.#options;
    // Missing parents get the node's ACL too: ZooKeeper checks a delete against the parent's ACL, so an
    // open parent would let anyone delete a node only its creator may change (Dubbo Java's ACLProvider
    // gives every path it creates the same CREATOR_ALL_ACL).
    await client.ensurePath(path.slice(0, path.lastIndexOf("/")), acl);
    try {
      await client.create(path, Buffer.from(data), "ephemeral", acl);
    } catch (error) {
      if (zooKeeperCode(error) !== "NODEEXISTS") throw error;
      // A node of the same address left by a session not expired yet (a restart, a whole-ensemble outage
      // that revived the old session), or one this session created whose reply was lost: replaced, as
      // dubbo-go's registerTempZookeeperNode does, but in one transaction, so that consumers never see this
      // provider gone in between. NONODE: the old one went meanwhile (its session expired), so created.
      try {
        await client.replace(path, Buffer.from(data), "ephemeral", acl);
      } catch (replaceError) {
        if (zooKeeperCode(replaceError) !== "NONODE") throw replaceError;
        await client.create(path, Buffer.from(data), "ephemeral", acl);
      }
    }
    this.#nodes.set(path, data);
    this.#event({ kind: "registered", path });
  }

  async #mapExports(): Promise<void> {
    const { client, root, identity } = this.#options;
    const unmapped = [...new Set(this.#options.exports().map((e) => e.service))].filter(
      (s) => !this.#mapped.has(s),
    );
    await settleAll(
      unmapped.map(async (service) => {
        await registerMapping(client, root, service, identity.application);
        this.#mapped.add(service);
      }),
    );
  }

  #failed(error: unknown): void {
    const code = zooKeeperCode(error);
    const path = (error as { path?: unknown } | null)?.path;
    const message = `${code ?? "error"}${typeof path === "string" ? ` at ${path}` : ""}: ${(error as Error)?.message ?? String(error)}`;
    this.#lastError = message;
    // Lost connections are retried at the next connect; refusals (ACL) are reported once per path.
    if (code === "CONNECTIONLOSS" || code === "SESSIONEXPIRED" || this.#options.client.state !== "connected")
      return;
    const key = `${code}:${String(path)}`;
    if (this.#reported.has(key)) return;
    this.#reported.add(key);
    this.#event({ kind: "error", ...(typeof path === "string" ? { path } : {}), message });
  }

  #event(event: Omit<RegistrationEvent, "time">): void {
    this.#options.onEvent?.({ ...event, time: this.#now() });
  }
}

/** Waits for every request of a step, then throws the first failure: none is left running into the next step. */
async function settleAll(requests: Promise<void>[]): Promise<void> {
  const results = await Promise.allSettled(requests);
  for (const result of results) if (result.status === "rejected") throw result.reason;
}
