import type { ContentTypeInfo } from "./content-type.ts";
import { grpcWriter } from "./grpc.ts";
import { grpcWebWriter } from "./grpc-web.ts";
import type { ProtocolWriter } from "./protocol-writer.ts";
import { tripleStreamWriter } from "./triple-stream.ts";
import { tripleUnaryWriter } from "./triple-unary.ts";

/** The writer that answers a call of this content-type. @internal */
export function writerFor(type: ContentTypeInfo): ProtocolWriter {
  switch (type.protocol) {
    case "grpc":
      return grpcWriter;
    case "grpc-web":
      return grpcWebWriter;
    default:
      return type.enveloped ? tripleStreamWriter : tripleUnaryWriter;
  }
}
