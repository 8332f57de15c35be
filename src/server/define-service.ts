import protobuf from "protobufjs";
import { createMessageCodec, type MessageCodec } from "../codec/message-codec.ts";
import { ConfigError } from "../wire/config-error.ts";
import type {
  MethodDefinition,
  ServerStreamingHandler,
  ServiceHandlers,
  ServiceMethods,
  ServiceType,
  UnaryHandler,
} from "./service-types.ts";

/**
 * Builds a service's method table from a protobufjs Root loaded from `.proto` files: each handler
 * named after an rpc of `serviceName` becomes a unary or server-streaming method with codecs for
 * its request and response types. Methods without a handler are not served (UNIMPLEMENTED).
 *
 * Give the service's type as `S` to type the handlers from it: requests, responses and the call
 * (`send()` for server-streaming methods) then need no annotations under `strict`, and a handler
 * for a method `S` lacks does not compile. The Root is read at run time, so `S` is what you declare
 * it to be: keep it in step with the `.proto`.
 *
 * ```ts
 * interface GreetService {
 *   Greet: UnaryMethod<{ name: string }, { greeting: string }>;
 * }
 * defineService<GreetService>(root, "greet.GreetService", {
 *   Greet: async (request, call) => ({ greeting: `hello ${request.name}` }),
 * });
 * ```
 * @throws TypeError for an unknown service, a handler for no rpc, or a client/bidi-streaming rpc.
 */
export function defineService<S extends ServiceType<S> = ServiceMethods>(
  root: protobuf.Root,
  serviceName: string,
  handlers: NoInfer<ServiceHandlers<S>>,
): ServiceMethods {
  const service = root.lookup(serviceName);
  if (!(service instanceof protobuf.Service))
    throw new ConfigError(`${serviceName} is not a service in the given root`);
  service.resolveAll();
  const codecs = new Map<protobuf.Type, MessageCodec<object>>();
  const codecFor = (type: protobuf.Type | null): MessageCodec<object> => {
    if (type === null) throw new ConfigError(`${serviceName}: unresolved message type`);
    let codec = codecs.get(type);
    if (codec === undefined) {
      codec = createMessageCodec<object>(type);
      codecs.set(type, codec);
    }
    return codec;
  };
  const methods: Record<string, MethodDefinition> = {};
  for (const [name, handler] of Object.entries<unknown>(handlers)) {
    if (handler === undefined) continue;
    const method = service.methods[name];
    if (method === undefined) throw new ConfigError(`${serviceName} has no method ${name}`);
    if (method.requestStream)
      throw new ConfigError(`${serviceName}/${name}: client and bidi streaming are not supported`);
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
