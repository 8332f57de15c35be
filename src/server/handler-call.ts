import { headerValue } from "../protocol/request-head.ts";
import { metadataFromHeaders } from "../wire/metadata.ts";
import type { Metadata } from "../wire/rpc-error.ts";
import type { ServerCall } from "./server-call.ts";
import type { HeldStream, HoldableStreamCall, ProtocolName, StreamHolder } from "./service-types.ts";

/**
 * A call as its handler sees it ({@link CallContext}, and `send` for server streams): read-only views
 * of the request and the call's state, the response metadata, and nothing of the engine. The
 * engine is held in a private field, so a handler cannot reach the exchange, the writer or the
 * lifecycle, nor move the deadline. Values are read from the engine on use, never copied.
 * @internal
 */
export class HandlerCall implements HoldableStreamCall<object> {
  readonly #call: ServerCall;
  #requestMetadata: Metadata | undefined = undefined;

  constructor(call: ServerCall) {
    this.#call = call;
  }

  get service(): string {
    return this.#call.route.service;
  }
  get method(): string {
    return this.#call.route.method;
  }
  get protocol(): ProtocolName {
    return this.#call.type.protocol;
  }
  get httpVersion(): "1.1" | "2" {
    return this.#call.exchange.httpVersion;
  }
  get requestMetadata(): Metadata {
    this.#requestMetadata ??= metadataFromHeaders(this.#call.exchange.headers, {
      maxBytes: this.#call.limits.maxMetadataBytes,
    });
    return this.#requestMetadata;
  }
  get deadline(): number | undefined {
    return this.#call.deadline;
  }
  get signal(): AbortSignal {
    return this.#call.signal;
  }
  get serviceGroup(): string | undefined {
    return headerValue(this.#call.exchange.headers, "tri-service-group");
  }
  get serviceVersion(): string | undefined {
    return headerValue(this.#call.exchange.headers, "tri-service-version");
  }
  get remoteAddress(): string | undefined {
    return this.#call.exchange.remoteAddress;
  }
  get connection(): object | undefined {
    return this.#call.exchange.connection;
  }
  get responseMetadata(): Metadata {
    return this.#call.responseMetadata;
  }
  get trailerMetadata(): Metadata {
    return this.#call.trailerMetadata;
  }

  send(message: object): Promise<void> {
    return this.#call.send(message);
  }

  /** @internal The engine's {@link ServerCall.hold}: the stream stays open until the call ends. */
  hold(holder: StreamHolder): HeldStream<object> {
    return this.#call.hold(holder);
  }
}
