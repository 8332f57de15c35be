// Dubbo's application-level metadata: the MetadataInfo a provider serves through MetadataServiceV2 and
// whose revision its instance node carries (apache/dubbo-go metadata/info/metadata_info.go:
// NewServiceInfoWithURL, toDescString, CalRevision; metadata/metadata_service.go convertV2).
import { createHash } from "node:crypto";
import { serviceKey } from "../../health/service-key.ts";
import {
  type ProviderExport,
  type ProviderIdentity,
  providerParams,
  tripleProtocol,
} from "./interface-url.ts";

/** `ServiceInfoV2` of `metadata_service_v2.proto`: one export as consumers build an invoker from it. */
export interface ServiceInfo {
  name: string;
  group: string;
  version: string;
  protocol: string;
  port: number;
  path: string;
  params: Record<string, string>;
}

/** `MetadataInfoV2`: the application, the revision (in `version`, as dubbo-go sends it) and its services. */
export interface MetadataInfo {
  app: string;
  /** The revision. */
  version: string;
  /** By match key (`group/interface:version:tri`). */
  services: Record<string, ServiceInfo>;
  tag: string;
}

// The provider URL parameters a ServiceInfo keeps (dubbo-go IncludeKeys), plus `methods`.
const includeKeys = [
  "application",
  "group",
  "timestamp",
  "serialization",
  "cluster",
  "loadbalance",
  "path",
  "timeout",
  "token",
  "version",
  "warmup",
  "weight",
  "release",
];

/** The match key of a ServiceInfo: `serviceKey:protocol` (dubbo-go common.MatchKey). */
export function matchKey(info: Pick<ServiceInfo, "name" | "group" | "version" | "protocol">): string {
  return `${serviceKey(info.name, info.group, info.version)}:${info.protocol}`;
}

/** The ServiceInfo of one export, as dubbo-go derives it from the provider URL. */
export function serviceInfoOf(exported: ProviderExport, who: ProviderIdentity): ServiceInfo {
  const url = providerParams(exported, who);
  const params: Record<string, string> = {};
  for (const key of includeKeys) {
    const value = url.get(key);
    if (value !== undefined && value !== "") params[key] = value;
  }
  params["methods"] = url.get("methods") ?? "";
  return {
    name: exported.service,
    group: exported.group,
    version: exported.version,
    protocol: tripleProtocol,
    port: who.port,
    path: exported.service,
    params,
  };
}

// dubbo-go's toDescString: name|group|version|protocol|port|path|k=v&… (sorted, without methods)|methods sorted.
function descString(info: ServiceInfo): string {
  const keys = Object.keys(info.params)
    .filter((key) => key !== "methods")
    .sort();
  const params = keys.map((key) => `${key}=${info.params[key]}`).join("&");
  const methods = info.params["methods"] ? info.params["methods"].split(",").sort().join(",") : "";
  return `${info.name}|${info.group}|${info.version}|${info.protocol}|${info.port}|${info.path}|${params}|${methods}`;
}

/**
 * The revision of an application's services, as dubbo-go's `CalRevision` computes it: SHA-512 (hex) of
 * the application name followed by each service's description, in match-key order. dubbo-go answers
 * `"0"` for no services, and consumers skip an instance whose revision is `"0"`; here an application
 * with no service SERVING still gets a real revision (the hash of its name alone), so that the
 * instance a consumer sees is never one it must skip.
 */
export function metadataRevision(app: string, services: Record<string, ServiceInfo>): string {
  const hash = createHash("sha512");
  hash.update(app);
  for (const key of Object.keys(services).sort()) hash.update(descString(services[key]!));
  return hash.digest("hex");
}

/** The MetadataInfo of the exports given (those SERVING), with its revision. */
export function buildMetadataInfo(exports: readonly ProviderExport[], who: ProviderIdentity): MetadataInfo {
  const services: Record<string, ServiceInfo> = {};
  for (const exported of exports) {
    const info = serviceInfoOf(exported, who);
    services[matchKey(info)] = info;
  }
  return { app: who.application, version: metadataRevision(who.application, services), services, tag: "" };
}
