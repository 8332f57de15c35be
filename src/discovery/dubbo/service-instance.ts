// Dubbo's application-level instance node: `/services/{app}/{host}:{port}`, ephemeral, holding a Curator
// ServiceInstance as JSON (Java CuratorFrameworkUtils.build + Curator's JsonInstanceSerializer; apache/
// dubbo-go registry/zookeeper/service_discovery.go toCuratorInstance / toZookeeperInstance,
// remoting/zookeeper/curator_discovery/service_instance.go, common/constant/key.go). Writer and reader.
import { hostPort, tripleProtocol } from "./interface-url.ts";

/** Metadata keys of an instance (dubbo-go common/constant/key.go). */
export const instanceMetadataKeys = {
  revision: "dubbo.metadata.revision",
  storageType: "dubbo.metadata.storage-type",
  endpoints: "dubbo.endpoints",
  metadataServiceUrlParams: "dubbo.metadata-service.url-params",
  metadataVersion: "meta-v",
} as const;

/** The MetadataServiceV2 version consumers call (`meta-v`, dubbo-go MetadataServiceV2Version). */
export const metadataServiceV2Version = "2.0.0";

/** The parent of an application's instance nodes: `/services/{app}`. */
export function instancesPath(app: string): string {
  return `/services/${app}`;
}

/** An instance node: `/services/{app}/{host}:{port}`. */
export function instancePath(app: string, host: string, port: number): string {
  return `${instancesPath(app)}/${hostPort(host, port)}`;
}

/** What an instance says about itself. */
export interface InstanceFacts {
  app: string;
  host: string;
  port: number;
  revision: string;
  /** ms since the epoch (Curator's registrationTimeUTC). */
  registeredAt: number;
}

/**
 * The instance JSON as Java's Curator writes it — `name`, `id`, `address`, `port`, `sslPort`, `payload`
 * (`@class` ZookeeperInstance, `id`, `name`, `metadata`), `registrationTimeUTC`, `serviceType`,
 * `uriSpec`, `enabled` — with the metadata consumers need: the revision, `storage-type: local` (ask the
 * instance itself), the `tri` endpoint, the MetadataService URL params and `meta-v: 2.0.0`. The
 * metadata values that are JSON are strings holding JSON, as both write them.
 */
export function buildInstanceJson(facts: InstanceFacts): string {
  const id = hostPort(facts.host, facts.port);
  const metadata = {
    [instanceMetadataKeys.revision]: facts.revision,
    [instanceMetadataKeys.storageType]: "local",
    [instanceMetadataKeys.endpoints]: JSON.stringify([{ port: facts.port, protocol: tripleProtocol }]),
    [instanceMetadataKeys.metadataServiceUrlParams]: JSON.stringify({
      port: String(facts.port),
      protocol: tripleProtocol,
    }),
    [instanceMetadataKeys.metadataVersion]: metadataServiceV2Version,
  };
  return JSON.stringify({
    name: facts.app,
    id,
    address: facts.host,
    port: facts.port,
    sslPort: null,
    payload: {
      "@class": "org.apache.dubbo.registry.zookeeper.ZookeeperInstance",
      id,
      name: facts.app,
      metadata,
    },
    registrationTimeUTC: facts.registeredAt,
    serviceType: "DYNAMIC",
    uriSpec: null,
    enabled: true,
  });
}

/** An instance read back as a consumer reads it. */
export interface ServiceInstance {
  name: string;
  id: string;
  address: string;
  port: number;
  metadata: Record<string, string>;
  revision: string;
  /** The `tri` endpoint's port (else the instance's port). */
  triplePort: number;
  /** Where MetadataServiceV2 is served: `dubbo.metadata-service.url-params`. */
  metadataService: { protocol: string; port: number } | undefined;
}

/**
 * Reads an instance node's data; `{ skip: reason }` for what a consumer cannot use: no JSON, no payload
 * metadata (dubbo-go's toZookeeperInstance logs and drops it), no revision or revision `"0"` (dubbo-go
 * skips it), bad port.
 */
export function parseInstanceJson(data: Buffer | string): ServiceInstance | { skip: string } {
  let value: unknown;
  try {
    value = JSON.parse(typeof data === "string" ? data : data.toString("utf8"));
  } catch {
    return { skip: "not JSON" };
  }
  if (!isObject(value)) return { skip: "not a JSON object" };
  const payload = value["payload"];
  if (!isObject(payload) || !isObject(payload["metadata"])) return { skip: "no payload metadata" };
  const metadata: Record<string, string> = {};
  for (const [key, item] of Object.entries(payload["metadata"]))
    if (typeof item === "string") metadata[key] = item;
  const port = value["port"];
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535)
    return { skip: "no valid port" };
  const revision = metadata[instanceMetadataKeys.revision];
  if (revision === undefined || revision === "" || revision === "0") return { skip: "no revision" };
  let triplePort = port;
  const endpoints = parseJsonString(metadata[instanceMetadataKeys.endpoints]);
  if (Array.isArray(endpoints))
    for (const endpoint of endpoints)
      if (
        isObject(endpoint) &&
        endpoint["protocol"] === tripleProtocol &&
        typeof endpoint["port"] === "number"
      )
        triplePort = endpoint["port"];
  const params = parseJsonString(metadata[instanceMetadataKeys.metadataServiceUrlParams]);
  const metadataService =
    isObject(params) && typeof params["protocol"] === "string" && /^\d+$/.test(String(params["port"]))
      ? { protocol: params["protocol"], port: Number(params["port"]) }
      : undefined;
  return {
    name: typeof value["name"] === "string" ? value["name"] : "",
    id: typeof value["id"] === "string" ? value["id"] : "",
    address: typeof value["address"] === "string" ? value["address"] : "",
    port,
    metadata,
    revision,
    triplePort,
    metadataService,
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function parseJsonString(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
