/**
 * The part of a ZooKeeper client registration uses: what `ZooKeeperClient` (src/discovery/zookeeper/)
 * offers, named here so that the layouts and the registrar depend on these calls only.
 * @internal
 */
export interface RegistryClient {
  readonly state: "connecting" | "connected" | "disconnected" | "expired" | "closed";
  onState(listener: (state: RegistryClient["state"], info: { newSession: boolean }) => void): () => void;
  start(): void;
  create(
    path: string,
    data: Buffer,
    mode: "persistent" | "ephemeral",
    acl?: "open" | "creator",
  ): Promise<string>;
  delete(path: string, version?: number): Promise<void>;
  replace(path: string, data: Buffer, mode: "ephemeral", acl?: "open" | "creator"): Promise<string>;
  exists(path: string): Promise<{ version: number } | null>;
  getData(path: string): Promise<{ data: Buffer; stat: { version: number } }>;
  setData(path: string, data: Buffer, version?: number): Promise<unknown>;
  getChildren(path: string): Promise<string[]>;
  ensurePath(path: string, acl?: "open" | "creator"): Promise<unknown>;
  close(): Promise<void> | void;
}

/** The ZooKeeper error name (`NONODE`, `NODEEXISTS`, `BADVERSION`, `NOAUTH`…) of an error, if it is one. */
export function zooKeeperCode(error: unknown): string | undefined {
  const name = (error as { codeName?: unknown } | null)?.codeName;
  return typeof name === "string" ? name : undefined;
}
