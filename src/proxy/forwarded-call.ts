import http2 from "node:http2";
import type { CallOutcome, EndpointPicker, PickedEndpoint } from "../client/endpoint-picker.ts";
import { oversizedHeaderList } from "../client/session-pool.ts";
import { parseContentType } from "../protocol/content-type.ts";
import { writerFor } from "../protocol/negotiate.ts";
import type { OutgoingHeaders } from "../protocol/response-sink.ts";
import type { Exchange, ExchangeListener } from "../server/exchange.ts";
import { Code } from "../wire/code.ts";
import { RpcError } from "../wire/rpc-error.ts";
import { endsWithTrailers, forwardedResponseHeaders, upstreamRequestHeaders } from "./hop-headers.ts";
import type { UpstreamSessions } from "./upstream-sessions.ts";

const {
  NGHTTP2_CANCEL,
  NGHTTP2_ENHANCE_YOUR_CALM,
  NGHTTP2_NO_ERROR,
  NGHTTP2_REFUSED_STREAM,
  NGHTTP2_FLAG_END_STREAM,
} = http2.constants;

/** Counters of a proxy, for operators and benchmarks. */
export interface ProxyStats {
  /** Calls received for forwarding. */
  calls: number;
  /** Attempts sent to each upstream (retries included). */
  readonly attempts: Map<string, number>;
  /** Attempts retried on another upstream because the first never reached its server. */
  retried: number;
  /**
   * Attempts retried on another upstream (`retryOnReset`) after the stream or connection failed before any
   * response byte, the request maybe already read by the server.
   */
  retriedOnReset: number;
  /** Calls answered UNAVAILABLE by the proxy itself (no routable upstream, or every attempt failed). */
  unavailable: number;
  /** Calls whose upstream failed after answering (reset mid-stream). */
  broken: number;
}

/** Counters at zero, for a new proxy or tap. */
export function emptyProxyStats(): ProxyStats {
  return { calls: 0, attempts: new Map(), retried: 0, retriedOnReset: 0, unavailable: 0, broken: 0 };
}

/**
 * Sees one forwarded call's bytes as they pass, for `tap`: the caller's request body, the upstream's
 * response head, body and trailers, and how the call ended. It only watches: what it is given is
 * forwarded unchanged, whatever it does.
 * @internal
 */
export interface ForwardObserver {
  requestData(chunk: Buffer): void;
  requestEnd(): void;
  /** The upstream's response head; `trailersOnly` when it is the whole response (a gRPC error at once). */
  response(status: number, headers: http2.IncomingHttpHeaders, trailersOnly: boolean): void;
  responseData(chunk: Buffer): void;
  /**
   * The call is over: `trailers` when the upstream sent them; `answeredBy` when the proxy answered
   * instead (no upstream took the call, or it broke off mid-response), with the reason.
   */
  end(outcome: CallOutcome, trailers: http2.IncomingHttpHeaders | undefined, answeredBy?: string): void;
}

/** Where calls go: the picker, or (tap) the one upstream. @internal */
export type UpstreamChooser = Pick<EndpointPicker, "pick">;

/** What every forwarded call shares. @internal */
export interface ForwardContext {
  readonly picker: UpstreamChooser;
  readonly sessions: UpstreamSessions;
  readonly maxAttempts: number;
  readonly maxReplayBytes: number;
  /** Also resend a call whose upstream failed after the request went out but before any response byte. */
  readonly retryOnReset: boolean;
  readonly stats: ProxyStats;
  readonly inFlight: Set<ForwardedCall>;
}

/**
 * The most of an error answer (a triple/Connect unary error, a 404/405/415) held back to be sent with its
 * head in one piece, as the server itself answers. A client that sees an error head while it still uploads
 * may stop (curl: "HTTP error before end of send, stop sending") and end its request short of its
 * content-length; nghttp2 then resets the stream (PROTOCOL_ERROR), and whatever of the body is not queued
 * by then is lost — about 1 error answer in 50 over h2c when head and body were forwarded apart.
 */
const maxHeldErrorBytes = 64 * 1024;

const unavailableTextHeaders = Object.freeze({ "content-type": "text/plain; charset=utf-8" });

/**
 * One call passed through to an upstream: the request head and body bytes go up unchanged (minus
 * hop-by-hop headers), the response head, body and trailers come back unchanged; messages are never
 * decoded. Until the upstream answers, the request bytes are kept (up to `maxReplayBytes`) so a call
 * that never reached a server — connection refused, stream refused, GOAWAY — is sent to another one;
 * with `retryOnReset`, so is one whose stream or connection died before any response byte (the server
 * may have run it: for idempotent methods only, as Dubbo's failover cluster and Envoy's `retry_on: reset`).
 * The caller's side is the server's {@link Exchange}, over HTTP/2 or HTTP/1.1 alike; this call is its listener.
 * @internal
 */
export class ForwardedCall implements ExchangeListener {
  readonly #ctx: ForwardContext;
  readonly #down: Exchange;
  readonly #tried = new Set<string>();
  #replay: Buffer[] | undefined = [];
  #replayBytes = 0;
  #requestEnded = false;
  #lease: PickedEndpoint | undefined;
  #up: http2.ClientHttp2Stream | undefined;
  #responded = false;
  #withTrailers = false;
  #status = 0;
  #trailers: http2.IncomingHttpHeaders | undefined;
  // An error answer (status 300 and up, no trailers) kept until it is complete; see maxHeldErrorBytes.
  #held: { head: OutgoingHeaders; chunks: Buffer[]; bytes: number } | undefined;
  #upstreamEnded = false;
  #done = false;

  readonly #observer: ForwardObserver | undefined;

  constructor(ctx: ForwardContext, down: Exchange, observer?: ForwardObserver) {
    this.#ctx = ctx;
    this.#down = down;
    this.#observer = observer;
  }

  start(): void {
    this.#ctx.stats.calls++;
    this.#ctx.inFlight.add(this);
    this.#down.attach(this);
    this.#attempt();
  }

  #attempt(): void {
    const ctx = this.#ctx;
    const picked = ctx.picker.pick(this.#tried);
    if (picked === undefined) {
      this.#unavailable(this.#tried.size === 0 ? "no healthy upstream" : "no upstream could take the call");
      return;
    }
    this.#lease = picked;
    this.#tried.add(picked.endpoint);
    ctx.stats.attempts.set(picked.endpoint, (ctx.stats.attempts.get(picked.endpoint) ?? 0) + 1);
    const down = this.#down;
    let up: http2.ClientHttp2Stream;
    try {
      up = ctx.sessions.request(picked.endpoint, upstreamRequestHeaders(down.method, down.url, down.headers));
    } catch {
      /* c8 ignore next 3: only when the proxy is closing between pick and request */
      this.#failAttempt(picked, "unprocessed");
      return;
    }
    this.#up = up;
    up.on("error", () => {});
    up.once("response", (headers, flags, rawHeaders?: string[]) => {
      // Past the limit our upstream sessions advertise: reset, as if the upstream had failed before answering.
      if (oversizedHeaderList(rawHeaders) !== 0) up.close(NGHTTP2_ENHANCE_YOUR_CALM);
      else this.#onResponse(up, headers, flags);
    });
    up.once("trailers", (trailers, _flags, rawHeaders?: string[]) => {
      // Reset, and without trailers the response counts as cut short (UNAVAILABLE).
      if (oversizedHeaderList(rawHeaders) !== 0) up.close(NGHTTP2_ENHANCE_YOUR_CALM);
      else this.#trailers = trailers;
    });
    up.once("close", () => this.#onUpstreamClose(up, picked));
    for (const chunk of this.#replay ?? []) up.write(chunk);
    if (this.#requestEnded) up.end();
    else down.resumeRequest();
  }

  /** A request body chunk from the caller. */
  onData(chunk: Buffer): void {
    if (this.#done) return;
    this.#observer?.requestData(chunk);
    const replay = this.#replay;
    if (replay !== undefined) {
      this.#replayBytes += chunk.length;
      if (this.#replayBytes > this.#ctx.maxReplayBytes) this.#replay = undefined;
      else replay.push(chunk);
    }
    const up = this.#up;
    if (up !== undefined && !up.destroyed && !up.write(chunk)) {
      this.#down.pauseRequest();
      up.once("drain", this.#resumeRequest);
    }
  }

  readonly #resumeRequest = (): void => this.#down.resumeRequest();

  /** The caller's request ended. */
  onEnd(): void {
    this.#requestEnded = true;
    this.#observer?.requestEnd();
    const up = this.#up;
    if (!this.#done && up !== undefined && !up.destroyed) up.end();
  }

  #onResponse(up: http2.ClientHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number): void {
    if (this.#done || up !== this.#up) return;
    this.#responded = true;
    this.#replay = undefined;
    const status = Number(headers[":status"] ?? 502);
    this.#status = status;
    const forwarded = forwardedResponseHeaders(headers);
    const down = this.#down;
    const trailersOnly = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
    this.#observer?.response(status, headers, trailersOnly);
    if (trailersOnly) {
      // Trailers-Only (a gRPC error before any message) stays one HEADERS frame.
      down.respond(status, forwarded, undefined, undefined);
      up.resume();
      this.#finish(outcomeOf(status, headers["grpc-status"]));
      return;
    }
    this.#withTrailers = endsWithTrailers(headers["content-type"]);
    if (status >= 300 && !this.#withTrailers) this.#held = { head: forwarded, chunks: [], bytes: 0 };
    else down.start(status, forwarded, this.#withTrailers);
    const observer = this.#observer;
    up.on("data", (chunk: Buffer) => {
      observer?.responseData(chunk);
      const held = this.#held;
      if (held !== undefined) {
        held.bytes += chunk.length;
        if (held.bytes <= maxHeldErrorBytes) {
          held.chunks.push(chunk);
          return;
        }
        this.#releaseHeld();
      }
      if (!down.write(chunk)) {
        up.pause();
        down.waitDrain();
      }
    });
    up.once("end", () => this.#onUpstreamEnd());
  }

  // An error answer too large to hold: sent as it comes after all.
  #releaseHeld(): void {
    const held = this.#held!;
    this.#held = undefined;
    this.#down.start(this.#status, held.head, false);
    for (const chunk of held.chunks) this.#down.write(chunk);
  }

  #onUpstreamEnd(): void {
    this.#upstreamEnded = true;
  }

  #onUpstreamClose(up: http2.ClientHttp2Stream, picked: PickedEndpoint): void {
    if (this.#done || up !== this.#up) return;
    if (!this.#responded) {
      // Never reached a server (still pending: no connection; or refused, as after GOAWAY): safe to resend.
      // Otherwise the request went out and nothing came back (reset, connection lost): the server may have
      // run the call, so it is resent only when the operator said the methods are idempotent.
      const unprocessed = up.pending || up.rstCode === NGHTTP2_REFUSED_STREAM;
      this.#failAttempt(picked, unprocessed ? "unprocessed" : this.#ctx.retryOnReset ? "reset" : undefined);
      return;
    }
    const trailers = this.#trailers;
    // A body that ends because the connection died also ends the stream: only the reset code, and for
    // gRPC the trailers, tell a complete response from a cut one.
    const complete = this.#withTrailers
      ? trailers !== undefined
      : this.#upstreamEnded && up.rstCode === NGHTTP2_NO_ERROR;
    const held = this.#held;
    this.#held = undefined;
    if (complete && held !== undefined) {
      this.#down.respond(this.#status, held.head, Buffer.concat(held.chunks), undefined);
      this.#finish(outcomeOf(this.#status, undefined));
      return;
    }
    if (complete) {
      this.#down.finish(undefined, this.#withTrailers ? forwardedResponseHeaders(trailers!) : undefined);
      this.#finish(outcomeOf(this.#status, trailers?.["grpc-status"]), this.#lease, trailers);
      return;
    }
    // The upstream went away mid-response: say so in-protocol where the protocol can.
    this.#ctx.stats.broken++;
    const why =
      up.rstCode === NGHTTP2_NO_ERROR
        ? "upstream response ended without trailers"
        : `upstream stream reset (HTTP/2 code ${up.rstCode})`;
    if (this.#withTrailers) {
      this.#down.finish(undefined, { "grpc-status": String(Code.Unavailable), "grpc-message": why });
    } else {
      this.#down.destroy(true);
    }
    this.#finish("failure", this.#lease, trailers, why);
  }

  /** `retry`: why the attempt may be resent (while its body is held and attempts remain); undefined: it may not. */
  #failAttempt(picked: PickedEndpoint, retry: "unprocessed" | "reset" | undefined): void {
    picked.done("failure");
    this.#lease = undefined;
    this.#up = undefined;
    const ctx = this.#ctx;
    if (retry !== undefined && this.#replay !== undefined && this.#tried.size < ctx.maxAttempts) {
      if (retry === "reset") ctx.stats.retriedOnReset++;
      else ctx.stats.retried++;
      this.#attempt();
      return;
    }
    this.#unavailable(`upstream ${picked.endpoint} failed before answering`);
  }

  /** The caller can take more of the response. */
  onDrain(): void {
    this.#up?.resume();
  }

  /** The caller's side closed: gone before the response was complete unless this call is done. */
  onClose(): void {
    if (this.#done) return;
    const up = this.#up;
    if (up !== undefined && !up.destroyed) up.close(NGHTTP2_CANCEL);
    this.#finish("cancelled", this.#lease, undefined, "the caller went away");
  }

  /**
   * The caller has not ended its request within the port's request-body timeout and no answer has come
   * (the port resets the stream itself once one has): the attempt is cancelled and the caller answered
   * DEADLINE_EXCEEDED in its protocol, 408 for a plain request, as node:http answers on HTTP/1.1.
   */
  onRequestTimeout(): void {
    if (this.#done) return;
    const up = this.#up;
    if (up !== undefined && !up.destroyed) up.close(NGHTTP2_CANCEL);
    this.#finish("cancelled");
    const exchange = this.#down;
    exchange.resumeRequest();
    const type = parseContentType(exchange.headers["content-type"] as string | undefined);
    if (type === undefined) {
      exchange.respond(408, unavailableTextHeaders, Buffer.from("request body timeout\n"), undefined);
      return;
    }
    const error = new RpcError(Code.DeadlineExceeded, "the request was not received in time");
    writerFor(type).writeError(exchange, type, error, undefined, undefined);
  }

  /** No upstream took the call: UNAVAILABLE in the caller's protocol (gRPC Trailers-Only, triple 503…). */
  #unavailable(message: string): void {
    const lease = this.#lease;
    this.#lease = undefined;
    this.#finish("failure", lease, undefined, message);
    this.#ctx.stats.unavailable++;
    // The rest of the request body is read and dropped, so an HTTP/1.1 connection stays usable.
    const exchange = this.#down;
    exchange.resumeRequest();
    const type = parseContentType(exchange.headers["content-type"] as string | undefined);
    if (type === undefined) {
      exchange.respond(503, unavailableTextHeaders, Buffer.from(`${message}\n`), undefined);
      return;
    }
    writerFor(type).writeError(exchange, type, new RpcError(Code.Unavailable, message), undefined, undefined);
  }

  #finish(
    outcome: CallOutcome,
    lease = this.#lease,
    trailers?: http2.IncomingHttpHeaders,
    answeredBy?: string,
  ): void {
    if (this.#done) return;
    this.#done = true;
    this.#replay = undefined;
    this.#ctx.inFlight.delete(this);
    lease?.done(outcome);
    this.#observer?.end(outcome, trailers, answeredBy);
  }
}

/** Gateway failures count against the upstream (Envoy's consecutive_gateway_failure); application errors do not. */
function outcomeOf(status: number, grpcStatus: string | string[] | undefined): CallOutcome {
  if (status === 502 || status === 503 || status === 504) return "failure";
  return grpcStatus === String(Code.Unavailable) ? "failure" : "success";
}
