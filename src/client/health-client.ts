import { healthCodecs } from "../codec/health-codecs.ts";
import { healthServiceName } from "../codec/health-types.ts";
import { createCallClient } from "./call-client.ts";
import {
  type HealthClient,
  type HealthClientOptions,
  type HealthListMethod,
  healthClientOver,
} from "./health-client-over.ts";

export type { HealthCallOptions, HealthClient, HealthClientOptions } from "./health-client-over.ts";

// Imported up front here (the library's client), so no call of a library user waits on loading protobufjs.
const list: HealthListMethod = {
  service: healthServiceName,
  method: "List",
  input: healthCodecs.listRequest,
  output: healthCodecs.listResponse,
};

/**
 * Creates a health client for a server at `url` (`http://host:port`, `https://host:port`, `host:port`
 * or `tri://host:port`). One HTTP/2 session is opened on the first call and reused; `close()` closes it.
 *
 * ```ts
 * const client = createHealthClient("http://127.0.0.1:20000", { protocol: "triple", timeoutMs: 1000 });
 * const status = await client.check("greet.GreetService"); // ServingStatus.Serving
 * ```
 * @throws ConfigError for a bad address or option (gRPC over HTTP/1.1).
 */
export function createHealthClient(url: string, options: HealthClientOptions = {}): HealthClient {
  return healthClientOver(createCallClient(url, options), list);
}
