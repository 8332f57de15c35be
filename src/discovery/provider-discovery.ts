// The consumer's half of Dubbo's ZooKeeper layouts: the providers of one service key, kept in step with
// the registry as dubbo-go's consumer reads it, and offered to the endpoint picker as an EndpointSource.
//
// Interface level (apache/dubbo-go registry/zookeeper/registry.go + listener.go): the children of
// `/{root}/{interface}/providers`, each an escaped provider URL, under one child watch.
// Application level (registry/zookeeper/service_discovery.go, metadata/client.go,
// registry/service_instance.go ToURLs): `/{root}/mapping/{interface}` lists applications; each
// application's `/services/{app}` children are instances whose Curator JSON names a revision; the
// instance's MetadataServiceV2 (triple, group = app, version 2.0.0) says what that revision exports;
// each matching ServiceInfo becomes a `tri` URL at the instance address and its `tri` endpoint port.
//
// Both levels are read and merged by address (see `levels`). Cost of a change: one read of the
// changed path (a provider joining: the parent's child list and its own node), and a metadata call
// only for a revision not seen yet. A registry outage keeps the last set, and so does the first read on a
// new session for `rejoinGraceMs` (see ProviderDiscoveryOptions).
import type { EndpointSource, EndpointSourceListener } from "../client/endpoint-source.ts";
import { serviceKey } from "../health/service-key.ts";
import { hostPort, parseProviderUrl, providerMatches, providersPath } from "./dubbo/interface-url.ts";
import { decodeMapping, mappingPath } from "./dubbo/mapping.ts";
import type { MetadataInfo, ServiceInfo } from "./dubbo/metadata-info.ts";
import { queryUnescape } from "./dubbo/query-escape.ts";
import { instancesPath, parseInstanceJson, type ServiceInstance } from "./dubbo/service-instance.ts";
import { type MetadataFetcher, tripleMetadataFetcher } from "./metadata-client.ts";
import { zooKeeperCode } from "./registry-client.ts";

/** A ZooKeeper watch notification. */
export interface DiscoveryWatchEvent {
  type: "created" | "deleted" | "changed" | "children";
  path: string;
}
type Watch = (event: DiscoveryWatchEvent) => void;

/** The reads discovery makes of a ZooKeeper client (`ZooKeeperClient` fits). @internal */
export interface DiscoveryZooKeeper {
  readonly state: string;
  onState(listener: (state: string, info: { newSession: boolean }) => void): () => void;
  exists(path: string, watch?: Watch): Promise<unknown>;
  getData(path: string, watch?: Watch): Promise<{ data: Buffer }>;
  getChildren(path: string, watch?: Watch): Promise<string[]>;
}

/** Which registrations count. */
export type DiscoveryLevels = "all" | "interface" | "instance" | "application-first";

/** Options of {@link ProviderDiscovery}. */
export interface ProviderDiscoveryOptions {
  client: DiscoveryZooKeeper;
  /** The interface (`greet.GreetService`). */
  service: string;
  group?: string;
  version?: string;
  /** Root of the interface layout and the mapping (the registry URL's `group`). Default `dubbo`. */
  root?: string;
  /**
   * `all` (default): both levels, one provider per address, whichever level (or both) lists it;
   * `application-first`: Java's APPLICATION_FIRST: instances when any match, else interface URLs;
   * `interface` or `instance` alone.
   */
  levels?: DiscoveryLevels;
  /** How metadata is fetched (default: MetadataServiceV2 over triple, 3 s per call). */
  fetchMetadata?: MetadataFetcher;
  /** Metadata calls in flight at once. Default 32. */
  metadataConcurrency?: number;
  /** Every provider change, skip and outage, for logs and `discover --watch`. */
  onEvent?: (event: DiscoveryEvent) => void;
  /**
   * After the registry comes back on a new session, how long a provider missing from it stays in the set,
   * ms. Default 10,000. An outage long enough to expire our session expired the providers' sessions too,
   * and their ephemeral nodes with them; each registers again once its own client reconnects, usually
   * after our first reads. Without the grace, those reads would empty the set for a moment and fail calls
   * that the providers, still up and checked by the picker, could answer. 0 turns it off.
   */
  rejoinGraceMs?: number;
}

/** One provider as discovered: an address and what registered it. */
export interface DiscoveredProvider {
  /** `host:port`, the key both levels are merged by. */
  readonly address: string;
  /** What the picker dials: `tri://host:port`. */
  readonly endpoint: string;
  /** The levels that list it. */
  readonly levels: readonly ("interface" | "instance")[];
  /** Its provider URLs (interface level: the node's URL; instance level: built from ServiceInfoV2). */
  readonly urls: readonly string[];
}

/** What discovery reports, in order. */
export type DiscoveryEvent =
  | { readonly type: "added" | "removed"; readonly provider: DiscoveredProvider; readonly time: number }
  /** An entry no consumer could use, reported once while it stays: skipped. */
  | {
      readonly type: "skipped";
      readonly level: "interface" | "instance";
      readonly entry: string;
      readonly reason: string;
      readonly time: number;
    }
  /** The registry was lost (`down`) or is back; the last set stands meanwhile. */
  | { readonly type: "outage"; readonly down: boolean; readonly reason: string; readonly time: number }
  /** A read failed (it is retried with backoff). */
  | { readonly type: "error"; readonly path: string; readonly message: string; readonly time: number };

/** Counters for benchmarks and tests: reads and metadata calls made. */
export interface DiscoveryStats {
  reads: number;
  metadataCalls: number;
  metadataCacheHits: number;
  /** Of `metadataCalls`, those that asked again after a failure (an instance not answering). */
  metadataRetries: number;
}

const firstRetryMs = 200;
const firstMetadataRetryMs = 1000;
const maxMetadataRetryMs = 60_000;
const maxRetryMs = 10_000;
const defaultRejoinGraceMs = 10_000;

/** Re-reads one path: serialized, a notification during a read asks for one more read, failures retry with backoff. */
class PathReader {
  #running = false;
  #again = false;
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;
  #settled = false;
  closed = false;

  constructor(
    readonly read: () => Promise<void>,
    readonly onFail: (error: unknown) => void,
    readonly onSettled: () => void,
  ) {}

  readonly trigger = (): void => {
    if (this.closed) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    void this.#run();
  };

  async #run(): Promise<void> {
    this.#running = true;
    do {
      this.#again = false;
      try {
        await this.read();
        this.#attempt = 0;
      } catch (error) {
        if (this.closed) break;
        this.onFail(error);
        const delay = Math.min(maxRetryMs, firstRetryMs * 2 ** this.#attempt++);
        clearTimeout(this.#timer);
        this.#timer = setTimeout(this.trigger, delay);
        this.#timer.unref();
      }
      this.#settle();
    } while (this.#again && !this.closed);
    this.#running = false;
  }

  #settle(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.onSettled();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.#timer);
    this.#settle();
  }
}

/** One instance node of an application and what it resolved to. */
interface InstanceState {
  reader: PathReader;
  /** `tri` URLs of the matching services, by address. */
  providers: Map<string, string[]>;
  revision: string | undefined;
  /** A failed metadata call asked again (not the node: its data watch tells of changes), with backoff. */
  retry: { timer: NodeJS.Timeout | undefined; attempt: number };
}

interface AppState {
  reader: PathReader;
  instances: Map<string, InstanceState>;
}

/**
 * The providers of one service key in a ZooKeeper registry, read as dubbo-go's consumer reads them, kept
 * in step by watches; an {@link EndpointSource} for `createEndpointPicker({ discovery })`. Call
 * `start()`, then `ready()` for the first complete read; `close()` stops every watch and retry.
 */
export class ProviderDiscovery implements EndpointSource {
  readonly service: string;
  readonly group: string;
  readonly version: string;
  readonly root: string;
  readonly levels: DiscoveryLevels;
  readonly stats: DiscoveryStats = { reads: 0, metadataCalls: 0, metadataCacheHits: 0, metadataRetries: 0 };
  readonly #client: DiscoveryZooKeeper;
  readonly #fetch: MetadataFetcher;
  readonly #onEvent: ((event: DiscoveryEvent) => void) | undefined;
  readonly #listeners = new Set<EndpointSourceListener>();
  /** Interface-level URLs by address. */
  #interfaceUrls = new Map<string, string[]>();
  readonly #apps = new Map<string, AppState>();
  readonly #skipped = new Map<string, string>();
  /** MetadataInfo by `app@revision`, shared by every instance of that revision; dropped when none uses it. */
  readonly #metadata = new Map<string, Promise<MetadataInfo>>();
  #current = new Map<string, DiscoveredProvider>();
  readonly #readers = new Set<PathReader>();
  #unsettled = 0;
  readonly #readyWaiters: (() => void)[] = [];
  #providersReader: PathReader | undefined;
  #mappingReader: PathReader | undefined;
  #flushQueued = false;
  #down = false;
  #hadSession = false;
  readonly #rejoinGraceMs: number;
  /** Until when providers missing from the registry are kept (a new session's first reads); 0: not now. */
  #rejoinUntil = 0;
  #rejoinTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #unsubscribeState: (() => void) | undefined;
  readonly #metadataSlots: { free: number; waiting: (() => void)[] };

  constructor(options: ProviderDiscoveryOptions) {
    this.#client = options.client;
    this.service = options.service;
    this.group = options.group ?? "";
    this.version = options.version ?? "";
    this.root = options.root ?? "dubbo";
    this.levels = options.levels ?? "all";
    this.#fetch = options.fetchMetadata ?? tripleMetadataFetcher();
    this.#onEvent = options.onEvent;
    this.#metadataSlots = { free: options.metadataConcurrency ?? 32, waiting: [] };
    this.#rejoinGraceMs = options.rejoinGraceMs ?? defaultRejoinGraceMs;
  }

  /** The service key the providers must match (`group/interface:version`). */
  get serviceKey(): string {
    return serviceKey(this.service, this.group, this.version);
  }

  /** The endpoints (`tri://host:port`) of every provider found. */
  get endpoints(): readonly string[] {
    return [...this.#current.values()].map((provider) => provider.endpoint);
  }

  /** Every provider found, by address order of discovery. */
  get providers(): readonly DiscoveredProvider[] {
    return [...this.#current.values()];
  }

  subscribe(listener: EndpointSourceListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Starts reading and watching (the client may still be connecting: reads wait for it, bounded). */
  start(): this {
    if (this.#providersReader !== undefined || this.#closed) return this;
    this.#hadSession = this.#client.state === "connected";
    this.#unsubscribeState = this.#client.onState(this.#onState);
    if (this.levels !== "instance") {
      this.#providersReader = this.#reader(() => this.#readProviders());
      this.#providersReader.trigger();
    }
    if (this.levels !== "interface") {
      this.#mappingReader = this.#reader(() => this.#readMapping());
      this.#mappingReader.trigger();
    }
    return this;
  }

  /**
   * Resolves true once every path read at least once (or failed once) — the first complete set — or
   * false when `timeoutMs` passes first.
   */
  ready(timeoutMs: number): Promise<boolean> {
    if (this.#unsettled === 0 && !this.#flushQueued) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.#readyWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Stops every watch's effect and every retry; the set stays as it was. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribeState?.();
    clearTimeout(this.#rejoinTimer);
    for (const reader of this.#readers) reader.close();
    this.#readers.clear();
    for (const app of this.#apps.values())
      for (const instance of app.instances.values()) clearTimeout(instance.retry.timer);
    for (const wake of this.#readyWaiters.splice(0)) wake();
  }

  readonly #onState = (state: string, info: { newSession: boolean }): void => {
    if (this.#closed) return;
    if (state === "connected") {
      const rejoin = info.newSession && this.#hadSession && this.#rejoinGraceMs > 0;
      if (rejoin) this.#rejoinUntil = Date.now() + this.#rejoinGraceMs;
      if (this.#down) {
        this.#down = false;
        const reason = rejoin
          ? `registry connected on a new session: providers missing from it are kept ${this.#rejoinGraceMs} ms while they register again`
          : "registry connected";
        this.#emit({ type: "outage", down: false, reason, time: Date.now() });
      }
      // A new session after the first has lost every watch: read everything again (the set stands meanwhile).
      if (info.newSession && this.#hadSession) for (const reader of this.#readers) reader.trigger();
      this.#hadSession = true;
    } else if ((state === "disconnected" || state === "expired") && !this.#down) {
      this.#down = true;
      this.#emit({
        type: "outage",
        down: true,
        reason: `registry ${state}: keeping the last known providers`,
        time: Date.now(),
      });
    }
  };

  #reader(read: () => Promise<void>): PathReader {
    this.#unsettled++;
    const reader: PathReader = new PathReader(
      read,
      (error) => this.#readFailed(error),
      () => {
        this.#unsettled--;
        this.#checkReady();
      },
    );
    this.#readers.add(reader);
    return reader;
  }

  #dropReader(reader: PathReader): void {
    reader.close();
    this.#readers.delete(reader);
  }

  #readFailed(error: unknown): void {
    const path = (error as { path?: unknown } | null)?.path;
    this.#emit({
      type: "error",
      path: typeof path === "string" ? path : "",
      message: error instanceof Error ? error.message : String(error),
      time: Date.now(),
    });
  }

  /**
   * Children of a path, with a child watch; a missing path is watched for its creation and reads as
   * empty (a service nobody registered yet).
   */
  async #children(path: string, watch: Watch): Promise<string[]> {
    this.stats.reads++;
    try {
      return await this.#client.getChildren(path, watch);
    } catch (error) {
      if (zooKeeperCode(error) !== "NONODE") throw error;
      this.stats.reads++;
      // Created in between: read it now (the exists watch may fire too; one more read is harmless).
      if ((await this.#client.exists(path, watch)) !== null) return this.#client.getChildren(path, watch);
      return [];
    }
  }

  async #readProviders(): Promise<void> {
    const path = providersPath(this.root, this.service);
    const children = await this.#children(path, this.#providersReader!.trigger);
    const next = new Map<string, string[]>();
    const seen = new Set<string>();
    for (const child of children) {
      const key = `interface ${child}`;
      seen.add(key);
      const url = parseProviderUrl(child);
      if (url === undefined) {
        this.#skip(key, "interface", child, "not a provider URL");
        continue;
      }
      const text = `${url.protocol}://${hostPort(url.host, url.port)}/${url.path}`;
      if (!providerMatches(url, { service: this.service, group: this.group, version: this.version })) {
        // Another group or version of the same interface is not an error: only a wrong protocol or
        // serialization on our service key is worth a report.
        const sameKey =
          serviceKey(
            url.params.get("interface") ?? url.path,
            url.params.get("group") ?? "",
            url.params.get("version") ?? "",
          ) === this.serviceKey;
        if (sameKey)
          this.#skip(
            key,
            "interface",
            text,
            `protocol ${url.protocol}, serialization ${url.params.get("serialization") || "protobuf"}: not tri with a known serialization`,
          );
        continue;
      }
      const address = hostPort(url.host, url.port);
      const urls = next.get(address) ?? [];
      urls.push(queryUnescape(child) ?? child);
      next.set(address, urls);
    }
    this.#forgetSkips("interface ", seen);
    this.#interfaceUrls = next;
    this.#queueFlush();
  }

  async #readMapping(): Promise<void> {
    const path = mappingPath(this.root, this.service);
    const watch = this.#mappingReader!.trigger;
    let apps: string[] = [];
    this.stats.reads++;
    try {
      apps = decodeMapping((await this.#client.getData(path, watch)).data.toString("utf8"));
    } catch (error) {
      if (zooKeeperCode(error) !== "NONODE") throw error;
      this.stats.reads++;
      if ((await this.#client.exists(path, watch)) !== null) {
        this.#mappingReader!.trigger();
        return;
      }
    }
    const wanted = new Set(apps.filter((app) => /^[^/\s]+$/.test(app)));
    for (const [app, state] of this.#apps) {
      if (wanted.has(app)) continue;
      this.#dropReader(state.reader);
      for (const [child, instance] of state.instances) this.#dropInstance(app, child, instance);
      this.#apps.delete(app);
    }
    for (const app of wanted) {
      if (this.#apps.has(app)) continue;
      const state: AppState = {
        reader: this.#reader(() => this.#readApp(app, state)),
        instances: new Map(),
      };
      this.#apps.set(app, state);
      state.reader.trigger();
    }
    this.#queueFlush();
  }

  async #readApp(app: string, state: AppState): Promise<void> {
    const children = new Set(await this.#children(instancesPath(app), state.reader.trigger));
    if (state.reader.closed) return;
    for (const [child, instance] of state.instances) {
      if (children.has(child)) continue;
      state.instances.delete(child);
      this.#dropInstance(app, child, instance);
    }
    for (const child of children) {
      if (state.instances.has(child)) continue;
      const instance: InstanceState = {
        reader: this.#reader(() => this.#readInstance(app, child, instance)),
        providers: new Map(),
        revision: undefined,
        retry: { timer: undefined, attempt: 0 },
      };
      state.instances.set(child, instance);
      instance.reader.trigger();
    }
    this.#queueFlush();
  }

  #dropInstance(app: string, child: string, instance: InstanceState): void {
    this.#dropReader(instance.reader);
    clearTimeout(instance.retry.timer);
    this.#release(app, instance.revision);
    this.#skipped.delete(`instance ${app}/${child}`);
    this.#queueFlush();
  }

  async #readInstance(app: string, child: string, instance: InstanceState): Promise<void> {
    const path = `${instancesPath(app)}/${child}`;
    this.stats.reads++;
    let data: Buffer;
    try {
      data = (await this.#client.getData(path, instance.reader.trigger)).data;
    } catch (error) {
      // Gone: the child watch of its application removes it.
      if (zooKeeperCode(error) === "NONODE") return;
      throw error;
    }
    if (instance.reader.closed) return;
    // New data: whatever retry was pending is for the old one.
    clearTimeout(instance.retry.timer);
    instance.retry = { timer: undefined, attempt: 0 };
    await this.#resolveInstance(app, child, instance, parseInstanceJson(data));
  }

  /** What an instance's data resolves to: its providers, or a skip (a failed metadata call is retried). */
  async #resolveInstance(
    app: string,
    child: string,
    instance: InstanceState,
    parsed: ReturnType<typeof parseInstanceJson>,
    retry = false,
  ): Promise<void> {
    const path = `${instancesPath(app)}/${child}`;
    const key = `instance ${app}/${child}`;
    if ("skip" in parsed) {
      this.#setInstance(app, instance, undefined, new Map());
      this.#skip(key, "instance", path, parsed.skip);
      return;
    }
    if (!hasTripleEndpoint(parsed)) {
      this.#setInstance(app, instance, undefined, new Map());
      this.#skip(key, "instance", path, "no tri endpoint in dubbo.endpoints");
      return;
    }
    let info: MetadataInfo;
    try {
      info = await this.#metadataOf(app, parsed, retry);
    } catch (error) {
      if (instance.reader.closed) return;
      this.#setInstance(app, instance, undefined, new Map());
      this.#skip(
        key,
        "instance",
        path,
        `metadata call failed: ${error instanceof Error ? error.message : String(error)}`,
      );
      // Reported once; asked again after 1 s, doubling to a minute, while the node exists: the
      // instance may not be listening yet. Only the metadata call is repeated, never the node read.
      const delay = Math.min(maxMetadataRetryMs, firstMetadataRetryMs * 2 ** instance.retry.attempt++);
      instance.retry.timer = setTimeout(() => {
        instance.retry.timer = undefined;
        if (instance.reader.closed || this.#closed) return;
        void this.#resolveInstance(app, child, instance, parsed, true);
      }, delay);
      instance.retry.timer.unref();
      return;
    }
    if (instance.reader.closed) return;
    const providers = this.#urlsOf(parsed, info);
    this.#skipped.delete(key);
    this.#setInstance(app, instance, parsed.revision, providers);
  }

  #setInstance(
    app: string,
    instance: InstanceState,
    revision: string | undefined,
    providers: Map<string, string[]>,
  ): void {
    if (instance.revision !== revision) {
      this.#release(app, instance.revision);
      instance.revision = revision;
    }
    instance.providers = providers;
    this.#queueFlush();
  }

  /** The MetadataInfo of an instance's revision: from the cache, or one call to the instance. */
  #metadataOf(app: string, instance: ServiceInstance, retry: boolean): Promise<MetadataInfo> {
    const cacheKey = `${app}@${instance.revision}`;
    const cached = this.#metadata.get(cacheKey);
    if (cached !== undefined) {
      this.stats.metadataCacheHits++;
      return cached;
    }
    if (instance.metadataService !== undefined && instance.metadataService.protocol !== "tri")
      return Promise.reject(new Error(`metadata service over ${instance.metadataService.protocol}, not tri`));
    const call = this.#withSlot(() => {
      this.stats.metadataCalls++;
      if (retry) this.stats.metadataRetries++;
      return this.#fetch({
        host: instance.address,
        port: instance.metadataService?.port ?? instance.triplePort,
        app,
        revision: instance.revision,
      });
    });
    this.#metadata.set(cacheKey, call);
    // A failed answer is not kept: the next read of any instance of that revision asks again.
    call.catch(() => {
      if (this.#metadata.get(cacheKey) === call) this.#metadata.delete(cacheKey);
    });
    return call;
  }

  async #withSlot<T>(run: () => Promise<T>): Promise<T> {
    const slots = this.#metadataSlots;
    if (slots.free === 0) await new Promise<void>((resolve) => slots.waiting.push(resolve));
    else slots.free--;
    try {
      return await run();
    } finally {
      const next = slots.waiting.shift();
      if (next !== undefined) next();
      else slots.free++;
    }
  }

  /** Drops a cached revision no instance of the application holds any more. */
  #release(app: string, revision: string | undefined): void {
    if (revision === undefined) return;
    const state = this.#apps.get(app);
    for (const instance of state?.instances.values() ?? []) if (instance.revision === revision) return;
    this.#metadata.delete(`${app}@${revision}`);
  }

  #matches(service: ServiceInfo): boolean {
    return (
      (service.protocol || "tri") === "tri" &&
      serviceKey(service.name, service.group, service.version) === this.serviceKey
    );
  }

  /** dubbo-go's ToURLs for the matching services: a `tri` URL at the instance address and `tri` port. */
  #urlsOf(instance: ServiceInstance, info: MetadataInfo): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const service of Object.values(info.services)) {
      if (!this.#matches(service)) continue;
      const address = hostPort(instance.address, instance.triplePort);
      const params = new Map(Object.entries(service.params));
      if (service.group !== "") params.set("group", service.group);
      if (service.version !== "") params.set("version", service.version);
      params.set("interface", service.name);
      const query = [...params.keys()]
        .sort()
        .map((key) => `${key}=${params.get(key)}`)
        .join("&");
      const urls = out.get(address) ?? [];
      urls.push(`tri://${address}/${service.path || service.name}?${query}`);
      out.set(address, urls);
    }
    return out;
  }

  #skip(key: string, level: "interface" | "instance", entry: string, reason: string): void {
    if (this.#skipped.get(key) === reason) return;
    this.#skipped.set(key, reason);
    this.#emit({ type: "skipped", level, entry, reason, time: Date.now() });
  }

  #forgetSkips(prefix: string, seen: Set<string>): void {
    for (const key of this.#skipped.keys())
      if (key.startsWith(prefix) && !seen.has(key)) this.#skipped.delete(key);
  }

  // Many reads complete at once (a first read of 1,000 instances): the set is merged once per turn.
  #queueFlush(): void {
    if (this.#flushQueued || this.#closed) return;
    this.#flushQueued = true;
    setImmediate(() => {
      this.#flushQueued = false;
      this.#flush();
      this.#checkReady();
    });
  }

  #flush(): void {
    const instanceUrls = new Map<string, string[]>();
    for (const app of this.#apps.values())
      for (const instance of app.instances.values())
        for (const [address, urls] of instance.providers)
          instanceUrls.set(address, [...(instanceUrls.get(address) ?? []), ...urls]);
    const useInterface =
      this.levels === "interface" ||
      this.levels === "all" ||
      (this.levels === "application-first" && instanceUrls.size === 0);
    const useInstance = this.levels !== "interface";
    const next = new Map<string, DiscoveredProvider>();
    const add = (level: "interface" | "instance", address: string, urls: string[]) => {
      const have = next.get(address);
      next.set(address, {
        address,
        endpoint: `tri://${address}`,
        levels: have === undefined ? [level] : [...have.levels, level],
        urls: [...(have?.urls ?? []), ...urls],
      });
    };
    if (useInstance) for (const [address, urls] of instanceUrls) add("instance", address, urls);
    if (useInterface) for (const [address, urls] of this.#interfaceUrls) add("interface", address, urls);
    const previous = this.#current;
    const added: DiscoveredProvider[] = [];
    const removed: DiscoveredProvider[] = [];
    const keepMissing = this.#keepMissing();
    for (const [address, provider] of next) if (!previous.has(address)) added.push(provider);
    for (const [address, provider] of previous) {
      if (next.has(address)) continue;
      if (keepMissing) next.set(address, provider);
      else removed.push(provider);
    }
    this.#current = next;
    if (added.length + removed.length === 0) return;
    const time = Date.now();
    for (const provider of removed) this.#emit({ type: "removed", provider, time });
    for (const provider of added) this.#emit({ type: "added", provider, time });
    const addedEndpoints = added.map((p) => p.endpoint);
    const removedEndpoints = removed.map((p) => p.endpoint);
    for (const listener of [...this.#listeners]) listener.changed(addedEndpoints, removedEndpoints);
  }

  /** True while a new session's rejoin grace lasts; its end flushes again, removing who did not come back. */
  #keepMissing(): boolean {
    if (this.#rejoinUntil === 0) return false;
    const left = this.#rejoinUntil - Date.now();
    if (left <= 0) {
      this.#rejoinUntil = 0;
      return false;
    }
    if (this.#rejoinTimer === undefined) {
      this.#rejoinTimer = setTimeout(() => {
        this.#rejoinTimer = undefined;
        this.#queueFlush();
      }, left + 1);
      this.#rejoinTimer.unref();
    }
    return true;
  }

  #checkReady(): void {
    if (this.#unsettled !== 0 || this.#flushQueued) return;
    for (const wake of this.#readyWaiters.splice(0)) wake();
  }

  #emit(event: DiscoveryEvent): void {
    if (event.type === "outage")
      for (const listener of [...this.#listeners]) listener.outage?.(event.down, event.reason);
    try {
      this.#onEvent?.(event);
    } catch {
      // A faulty logger must not stop discovery.
    }
  }
}

/**
 * dubbo-go's ToURLs takes the port of the endpoint whose protocol is the service's; an instance that
 * lists endpoints, none of them `tri`, has nothing a triple consumer can call. (No list at all: the
 * instance port, as there.)
 */
function hasTripleEndpoint(instance: ServiceInstance): boolean {
  const text = instance.metadata["dubbo.endpoints"];
  if (text === undefined) return true;
  try {
    const endpoints: unknown = JSON.parse(text);
    if (!Array.isArray(endpoints) || endpoints.length === 0) return true;
    return endpoints.some((e) => (e as { protocol?: unknown } | null)?.protocol === "tri");
  } catch {
    return true;
  }
}
