import protobuf from "protobufjs";
import { createMessageCodec, type MessageCodec } from "../codec/message-codec.ts";
import type {
  MethodDefinition,
  ServerStreamingHandler,
  ServiceMethods,
  UnaryHandler,
} from "./service-types.ts";

/** Handlers by method name: unary ones return the response, server-streaming ones `send()` it. */
// biome-ignore lint/suspicious/noExplicitAny: handlers of every message type live in one table
export type ServiceHandlers = Record<string, UnaryHandler<any, any> | ServerStreamingHandler<any, any>>;

/**
 * Builds a service's method table from a protobufjs Root loaded from `.proto` files: each handler
 * named after an rpc of `serviceName` becomes a unary or server-streaming method with codecs for
 * its request and response types. Methods without a handler are not served (UNIMPLEMENTED).
 * @throws TypeError for an unknown service, a handler for no rpc, or a client/bidi-streaming rpc.
 */
export function defineService(
  root: protobuf.Root,
  serviceName: string,
  handlers: ServiceHandlers,
): ServiceMethods {
  const service = root.lookup(serviceName);
  if (!(service instanceof protobuf.Service))
    throw new TypeError(`${serviceName} is not a service in the given root`);
  service.resolveAll();
  const codecs = new Map<protobuf.Type, MessageCodec<object>>();
  const codecFor = (type: protobuf.Type | null): MessageCodec<object> => {
    if (type === null) throw new TypeError(`${serviceName}: unresolved message type`);
    let codec = codecs.get(type);
    if (codec === undefined) {
      codec = createMessageCodec<object>(type);
      codecs.set(type, codec);
    }
    return codec;
  };
  const methods: Record<string, MethodDefinition> = {};
  for (const [name, handler] of Object.entries(handlers)) {
    const method = service.methods[name];
    if (method === undefined) throw new TypeError(`${serviceName} has no method ${name}`);
    if (method.requestStream)
      throw new TypeError(`${serviceName}/${name}: client and bidi streaming are not supported`);
    const input = codecFor(method.resolvedRequestType);
    const output = codecFor(method.resolvedResponseType);
    methods[name] = method.responseStream
      ? {
          kind: "server_streaming",
          input,
          output,
          handler: handler as ServerStreamingHandler<object, object>,
        }
      : { kind: "unary", input, output, handler: handler as UnaryHandler<object, object> };
  }
  return methods;
}
