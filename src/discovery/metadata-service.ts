// The MetadataServiceV2 a provider serves about itself, so that application-level consumers learn its
// services (apache/dubbo-go metadata/metadata_service.go MetadataServiceV2.GetMetadataInfo).
import { loadProtoFiles } from "../codec/proto-files.ts";
import { defineService } from "../server/define-service.ts";
import type { ServiceMethods, UnaryMethod } from "../server/service-types.ts";
import { Code } from "../wire/code.ts";
import { RpcError } from "../wire/rpc-error.ts";
import type { MetadataInfo } from "./dubbo/metadata-info.ts";
import { metadataServiceV2Version } from "./dubbo/service-instance.ts";

/** The name MetadataServiceV2 is served under (`/org.apache.dubbo.metadata.MetadataServiceV2/GetMetadataInfo`). */
export const metadataServiceName = "org.apache.dubbo.metadata.MetadataServiceV2";

/** `MetadataRequest`. */
export interface MetadataRequest {
  revision: string;
}

interface MetadataServiceV2 {
  GetMetadataInfo: UnaryMethod<MetadataRequest, MetadataInfo>;
}

/**
 * The export MetadataServiceV2 is served as: group = the application, version 2.0.0, as consumers call
 * it (dubbo-go metadata/client.go buildStandardMetadataServiceURL).
 */
export function metadataServiceExport(application: string): { group: string; version: string } {
  return { group: application, version: metadataServiceV2Version };
}

/**
 * MetadataServiceV2's methods, answering from `current()` (the MetadataInfo of what is registered now):
 * the revision asked for, or an empty one (the current, for a curious operator); NOT_FOUND for any
 * other revision (an instance node read before a republish: the consumer gets the new one with its
 * registry event).
 */
export function createMetadataService(current: () => MetadataInfo): ServiceMethods {
  const root = loadProtoFiles("metadata_service_v2.proto");
  return defineService<MetadataServiceV2>(root, metadataServiceName, {
    GetMetadataInfo: (request) => {
      const info = current();
      if (request.revision !== "" && request.revision !== info.version)
        throw new RpcError(
          Code.NotFound,
          `no metadata of revision ${request.revision} (now ${info.version})`,
        );
      return info;
    },
  });
}
