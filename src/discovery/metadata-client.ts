// The consumer's side of MetadataServiceV2: ask an application instance which services it exports
// (apache/dubbo-go metadata/client.go GetMetadataInfo with buildStandardMetadataServiceURL: triple,
// group = the application, version 2.0.0, the revision from the instance node).
import { createCallClient } from "../client/call-client.ts";
import type { MethodRef } from "../client/call-options.ts";
import { createMessageCodec } from "../codec/message-codec.ts";
import { loadProtoFiles } from "../codec/proto-files.ts";
import { hostPort } from "./dubbo/interface-url.ts";
import type { MetadataInfo } from "./dubbo/metadata-info.ts";
import { metadataServiceV2Version } from "./dubbo/service-instance.ts";
import { type MetadataRequest, metadataServiceName } from "./metadata-service.ts";

let method: MethodRef<MetadataRequest, MetadataInfo> | undefined;

// Loaded on first use: a consumer without application-level discovery never parses the .proto.
function getMetadataInfo(): MethodRef<MetadataRequest, MetadataInfo> {
  if (method === undefined) {
    const root = loadProtoFiles("metadata_service_v2.proto");
    method = {
      service: metadataServiceName,
      method: "GetMetadataInfo",
      input: createMessageCodec<MetadataRequest>(
        root.lookupType("org.apache.dubbo.metadata.MetadataRequest"),
      ),
      output: createMessageCodec<MetadataInfo>(root.lookupType("org.apache.dubbo.metadata.MetadataInfoV2")),
    };
  }
  return method;
}

/** Where and what to ask: an instance's MetadataService address and its application and revision. */
export interface MetadataQuery {
  host: string;
  port: number;
  app: string;
  revision: string;
}

/** Fetches one instance's MetadataInfo; rejects with an `RpcError`. */
export type MetadataFetcher = (query: MetadataQuery) => Promise<MetadataInfo>;

/**
 * A {@link MetadataFetcher} over gRPC-framed triple on HTTP/2 (what dubbo-go's and Java's triple
 * servers, and ours, answer), one short-lived connection per call, each call bounded by `timeoutMs`.
 */
export function tripleMetadataFetcher(timeoutMs = 3000): MetadataFetcher {
  return async (query) => {
    const client = createCallClient(`http://${hostPort(query.host, query.port)}`, {
      protocol: "grpc",
      timeoutMs,
      connectTimeoutMs: timeoutMs,
      metadata: { "tri-service-group": query.app, "tri-service-version": metadataServiceV2Version },
    });
    try {
      const info = await client.unary(getMetadataInfo(), { revision: query.revision });
      return normalize(info);
    } finally {
      void client.close().catch(() => {});
    }
  };
}

// A decoded message keeps its zero-valued fields on its prototype (protobufjs), where JSON.stringify and a
// spread do not see them: copied into plain objects, every field its own.
function normalize(info: MetadataInfo): MetadataInfo {
  const services: MetadataInfo["services"] = {};
  for (const [key, service] of Object.entries(info.services)) {
    const { name, group, version, protocol, port, path } = service;
    services[key] = { name, group, version, protocol, port, path, params: { ...service.params } };
  }
  return { app: info.app, version: info.version, services, tag: info.tag };
}
