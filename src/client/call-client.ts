import { type CallClient, type CallClientOptions, createCallClientOver } from "./call-client-over.ts";
import { Http1Transport } from "./http1-transport.ts";
import { Http2Transport } from "./http2-transport.ts";

export {
  type CallClient,
  type CallClientOptions,
  type ClientProtocol,
  defaultUnaryTimeoutMs,
  parseTarget,
  userAgent,
} from "./call-client-over.ts";

/**
 * Creates the generic call layer the health client (and a proxy) build on.
 * @throws ConfigError for a bad address, protocol, codec or HTTP version, or gRPC over HTTP/1.1.
 */
export function createCallClient(target: string, options: CallClientOptions = {}): CallClient {
  // Both transports are imported up front: loading undici on the first HTTP/1.1 call put its import inside
  // that call's deadline.
  return createCallClientOver(target, options, (url, transportOptions, httpVersion) =>
    httpVersion === "2"
      ? new Http2Transport(url, transportOptions)
      : new Http1Transport(url, transportOptions),
  );
}
