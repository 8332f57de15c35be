import type { MessageCodec } from "../codec/message-codec.ts";
import type { Metadata } from "../wire/rpc-error.ts";

/** How a call arrived: which protocol family answers it. */
export type ProtocolName = "grpc" | "grpc-web" | "triple";

/** What a handler sees of its call, whatever the protocol and HTTP version. */
export interface CallContext {
  readonly service: string;
  readonly method: string;
  readonly protocol: ProtocolName;
  /** `1.1` or `2`. */
  readonly httpVersion: "1.1" | "2";
  /** Request metadata: lower-case keys, pseudo and protocol headers left out. */
  readonly requestMetadata: Metadata;
  /** Absolute deadline in `Date.now()` milliseconds, from whichever timeout header the client sent. */
  readonly deadline: number | undefined;
  /** Aborted when the client cancels, disconnects, the deadline passes or the server closes. */
  readonly signal: AbortSignal;
  /** Dubbo's `tri-service-group` / `tri-service-version`, when sent. */
  readonly serviceGroup: string | undefined;
  readonly serviceVersion: string | undefined;
  readonly remoteAddress: string | undefined;
  /**
   * The connection the call arrived on, as an opaque identity (the same object for every call on one
   * HTTP/2 session or HTTP/1.1 socket): for per-connection limits such as watchers per connection.
   */
  readonly connection: object | undefined;
  /** Added to the response headers (before the first message). */
  readonly responseMetadata: Metadata;
  /** Added to the trailers. */
  readonly trailerMetadata: Metadata;
}

/** The call a server-streaming handler writes its messages to. */
export interface ServerStreamCall<O> extends CallContext {
  /**
   * Sends one message. Resolves when the transport can take more (so a loop awaiting it never queues
   * without bound); rejects with an `RpcError` once the call has ended.
   */
  send(message: O): Promise<void>;
}

/**
 * What a handler that holds its stream open ({@link HoldableStreamCall.hold}) hears instead of promises.
 * @internal
 */
export interface StreamHolder {
  /** The transport takes more again after a {@link HeldStream.write} that returned false. */
  onWritable(): void;
  /** The call has ended (client gone, deadline, server closing, a failure); writes do nothing from now on. */
  onCallEnd(): void;
}

/** What {@link HoldableStreamCall.hold} hands back: the held stream's writer. @internal */
export interface HeldStream<O> {
  /**
   * `send()` without a promise: true while the transport takes more, false when it pushed back (the holder
   * hears `onWritable` once it drains) or the call has ended (the holder hears `onCallEnd`).
   */
  write(message: O): boolean;
}

/**
 * What the server's own stream calls add for a handler that keeps its stream open past its return without
 * a promise: the health Watch, which lives as long as its client wants, up to 100,000 at a time, and must
 * cost little more than the HTTP/2 stream under it.
 * @internal
 */
export interface HoldableStreamCall<O> extends ServerStreamCall<O> {
  /**
   * Keeps the stream open after the handler returns: it ends only when the call does (the client leaves,
   * the deadline passes, the server ends it), which `holder` hears; writes go through what this returns.
   * Called before the handler returns and before any `send()`, having read what it needs of the call: the
   * request head is let go, and this call object (its signal, its metadata) is done with from here on.
   */
  hold(holder: StreamHolder): HeldStream<O>;
}

/** @internal True for a call that offers {@link HoldableStreamCall.hold} (the server's own do). */
export function isHoldable<O>(call: ServerStreamCall<O>): call is HoldableStreamCall<O> {
  return typeof (call as Partial<HoldableStreamCall<O>>).hold === "function";
}

/** Answers one request with one message (or a promise of it); a thrown `RpcError` is the call's status. */
export type UnaryHandler<I, O> = (request: I, call: CallContext) => O | Promise<O>;
/** Sends messages with `call.send`; the call ends OK when it returns (or its promise resolves), else with what it threw. */
export type ServerStreamingHandler<I, O> = (request: I, call: ServerStreamCall<O>) => void | Promise<void>;

/** A unary method: its message codecs and its handler. */
// biome-ignore lint/suspicious/noExplicitAny: one method table holds handlers of every message type
export interface UnaryMethod<I extends object = any, O extends object = any> {
  readonly kind: "unary";
  readonly input: MessageCodec<I>;
  readonly output: MessageCodec<O>;
  readonly handler: UnaryHandler<I, O>;
}

/** A server-streaming method (such as Watch): its message codecs and its handler. */
// biome-ignore lint/suspicious/noExplicitAny: one method table holds handlers of every message type
export interface ServerStreamingMethod<I extends object = any, O extends object = any> {
  readonly kind: "server_streaming";
  readonly input: MessageCodec<I>;
  readonly output: MessageCodec<O>;
  readonly handler: ServerStreamingHandler<I, O>;
}

/** The two kinds of method a service may have here (client and bidirectional streaming are not served). */
export type MethodDefinition = UnaryMethod | ServerStreamingMethod;

/** Method name (`Check`) → definition. */
export type ServiceMethods = Record<string, MethodDefinition>;

/**
 * A service's methods as types, for typing its handlers (see `defineService`): method name →
 * `UnaryMethod<Request, Response>` or `ServerStreamingMethod<Request, Response>`. Interfaces work too:
 *
 * ```ts
 * interface GreetService {
 *   Greet: UnaryMethod<{ name: string }, { greeting: string }>;
 * }
 * ```
 */
export type ServiceType<S> = { readonly [M in keyof S]: MethodDefinition };

/** The handler of one method type: a {@link UnaryHandler} or a {@link ServerStreamingHandler}. */
type HandlerOf<M> =
  M extends ServerStreamingMethod<infer I, infer O>
    ? ServerStreamingHandler<I, O>
    : M extends UnaryMethod<infer I, infer O>
      ? UnaryHandler<I, O>
      : never;

/**
 * A handler of a service given no type: the request is `any`, and the call offers `send()` (for
 * server-streaming methods only). One function type, so that parameters left unannotated still get
 * a type under `strict`.
 */
// biome-ignore lint/suspicious/noExplicitAny: no service type: any request, any response
type UntypedHandler = (request: any, call: ServerStreamCall<any>) => unknown;

/**
 * Handlers by method name, typed from `S` when given (each handler's request, response and call
 * follow its method's type; a name that is not a method of `S` does not compile); without `S`, the
 * request is `any` and the call a `ServerStreamCall<any>`. Methods without a handler are not served
 * (UNIMPLEMENTED).
 */
export type ServiceHandlers<S extends ServiceType<S> = ServiceMethods> = string extends keyof S
  ? { readonly [method: string]: UntypedHandler | undefined }
  : { readonly [M in keyof S]?: HandlerOf<S[M]> };

/**
 * A plain HTTP request the RPC router did not claim (admin surface, `/livez`, `/readyz`), given
 * transport-free to the handlers configured on the server.
 */
export interface PlainHttpRequest {
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly remoteAddress: string | undefined;
  readonly body: Uint8Array;
}

/** The open body of a streamed plain answer (see {@link PlainHttpResponse.stream}). */
export interface PlainHttpStream {
  /**
   * Writes a chunk (a string goes as UTF-8). False when the transport's buffer is full: a writer that
   * cannot wait (server-sent events) should end the stream rather than queue without bound.
   */
  write(chunk: string | Uint8Array): boolean;
  /** Ends the response. Idempotent; a no-op once the client is gone. */
  end(): void;
  /** Aborted when the response is over: ended, the client went away, the connection closed. */
  readonly signal: AbortSignal;
}

/** A plain handler's answer; a string body without a content-type goes as `text/plain; charset=utf-8`. */
export interface PlainHttpResponse {
  status: number;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /**
   * Streams the body instead of sending `body` (server-sent events): the head goes at once, then this is
   * called with the open body, which stays open until it calls `end()` or the client goes away.
   */
  stream?: (out: PlainHttpStream) => void;
}

/** Answers a plain HTTP request, or returns undefined when the path is not its own. */
export type PlainHttpHandler = (
  request: PlainHttpRequest,
) => PlainHttpResponse | undefined | Promise<PlainHttpResponse | undefined>;
