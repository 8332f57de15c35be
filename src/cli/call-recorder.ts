// What `triple-health tap` knows of one call as it passes: the request and response bytes cut into messages
// (envelopes, or one unary body) and decoded as `decode` does, the status in the call's own protocol, and
// the lines that describe it. The tap forwards the bytes whatever happens here; this only reads copies.
import zlib from "node:zlib";
import type protobuf from "protobufjs";
import type { CallOutcome } from "../client/endpoint-picker.ts";
import { loadProtoFiles } from "../codec/proto-files.ts";
import type { TapCallHead, TapObserver } from "../host/triple-tap.ts";
import { type ContentTypeInfo, parseContentType } from "../protocol/content-type.ts";
import { decodeEndStreamJson } from "../protocol/end-stream.ts";
import { decodeErrorJson } from "../protocol/error-json.ts";
import { parseGrpcStatus } from "../protocol/grpc-status.ts";
import { headerValue, type IncomingHeaders } from "../protocol/request-head.ts";
import { Code, codeFromHttpStatus, grpcCodeName } from "../wire/code.ts";
import { EnvelopeDecoder } from "../wire/envelope.ts";
import { type DecodedMessage, decodeMessage } from "./envelope-dump.ts";

/** The largest message the tap decodes; larger ones pass through and are reported by size. */
export const maxTappedMessageBytes = 4 * 1024 * 1024;
/** Messages kept per direction for a call's summary line; later ones are printed, then only counted. */
export const maxKeptMessages = 100;

/** The types a tap decodes with: health and greet built in, plus `--proto` files. @internal */
export function loadTapTypes(protoFiles: readonly string[]): protobuf.Root {
  const root = loadProtoFiles("health.proto", "greet.proto");
  for (const file of protoFiles) root.loadSync(file);
  return root;
}

/** A method's request and response types, found by its path in `root`; `fallback` for paths it lacks. */
function methodTypes(
  root: protobuf.Root,
  path: string,
  fallback: protobuf.Type | undefined,
): { input: protobuf.Type | undefined; output: protobuf.Type | undefined; streaming: boolean } {
  const match = /^\/([^/]+)\/([^/?]+)/.exec(path);
  if (match !== null) {
    try {
      const service = root.lookupService(match[1]!);
      const name = match[2]!;
      // Java callers send `check` for `Check` (dubbo-go routes both): find the method either way.
      const method = service.methods[name] ?? service.methods[name.charAt(0).toUpperCase() + name.slice(1)];
      if (method !== undefined) {
        method.resolve();
        return {
          input: method.resolvedRequestType ?? undefined,
          output: method.resolvedResponseType ?? undefined,
          streaming: method.responseStream === true,
        };
      }
    } catch {
      // Not a service of `root`.
    }
  }
  return { input: fallback, output: fallback, streaming: false };
}

/** One message as `tap` reports it: envelope flags, type and the decoded value. @internal */
export interface TappedMessage {
  flags?: string;
  flagNames?: string[];
  length: number;
  type?: string;
  message?: unknown;
  error?: string;
  fields?: unknown;
}

/** The JSON line `tap --json` prints for a finished call. @internal */
export interface TappedCall {
  id: number;
  method: string;
  path: string;
  protocol: string;
  codec: string | undefined;
  httpVersion: "2" | "1.1";
  requestHeaders: IncomingHeaders;
  status: number | undefined;
  responseHeaders: IncomingHeaders | undefined;
  requestMessages: unknown[];
  responseMessages: unknown[];
  trailers: IncomingHeaders | undefined;
  code: number;
  codeName: string;
  message: string;
  durationMs: number;
  /** Set when the tap answered the call itself (the upstream never did, or broke off). */
  answeredBy?: string;
  /** Messages beyond {@link maxKeptMessages} per direction, printed but not kept here. */
  droppedMessages?: number;
}

/**
 * Where a recorder reports: `line` for each part of a call as it passes (the human form), `message` for each
 * message (with `streaming` for a server-streaming method), `call` once the call is over. @internal
 */
export interface RecorderSink {
  line(text: string): void;
  message(id: number, direction: "request" | "response", value: unknown, streaming: boolean): void;
  call(call: TappedCall): void;
}

/** Where one direction's bytes go until they make messages. */
class DirectionReader {
  readonly #decoder: EnvelopeDecoder | undefined;
  readonly #text: boolean;
  #textRest = "";
  #body: Buffer[] | undefined;
  #bodyBytes = 0;
  #failed: string | undefined;

  constructor(
    type: ContentTypeInfo | undefined,
    readonly onMessage: (payload: Buffer, flags: number | undefined) => void,
    readonly onFailure: (why: string) => void,
  ) {
    this.#text = type?.text === true;
    if (type?.enveloped === true)
      this.#decoder = new EnvelopeDecoder({ maxMessageBytes: maxTappedMessageBytes });
    else this.#body = [];
  }

  push(chunk: Buffer): void {
    if (this.#failed !== undefined) return;
    const decoder = this.#decoder;
    if (decoder === undefined) {
      this.#bodyBytes += chunk.length;
      if (this.#bodyBytes > maxTappedMessageBytes) {
        this.#fail(`body over ${maxTappedMessageBytes} bytes`);
        return;
      }
      this.#body!.push(chunk);
      return;
    }
    let bytes = chunk;
    if (this.#text) {
      // gRPC-Web-Text: base64, cut anywhere; decode whole quads only.
      const text = this.#textRest + chunk.toString("latin1").replace(/\s+/g, "");
      const whole = text.length - (text.length % 4);
      this.#textRest = text.slice(whole);
      bytes = Buffer.from(text.slice(0, whole), "base64");
    }
    try {
      decoder.push(bytes);
      for (let envelope = decoder.next(); envelope !== undefined; envelope = decoder.next()) {
        this.onMessage(envelope.payload, envelope.flags);
      }
    } catch (error) {
      this.#fail((error as Error).message);
    }
  }

  /** The unary body, once the direction ended. */
  end(): Buffer | undefined {
    if (this.#failed !== undefined || this.#body === undefined) return undefined;
    const body = Buffer.concat(this.#body);
    this.#body = undefined;
    return body;
  }

  #fail(why: string): void {
    this.#failed = why;
    this.#body = undefined;
    this.onFailure(why);
  }
}

/**
 * Records one call for `tap`: prints a line as each part passes and, at the end, the call's summary (its
 * status in the call's own protocol and its duration). @internal
 */
export class CallRecorder implements TapObserver {
  readonly #id: number;
  readonly #head: TapCallHead;
  readonly #type: ContentTypeInfo | undefined;
  readonly #sink: RecorderSink;
  readonly #root: protobuf.Root;
  readonly #input: protobuf.Type | undefined;
  readonly #output: protobuf.Type | undefined;
  readonly #streaming: boolean;
  readonly #started = performance.now();
  readonly #request: DirectionReader;
  #response: DirectionReader | undefined;
  #status: number | undefined;
  #responseHeaders: IncomingHeaders | undefined;
  #trailersOnly = false;
  readonly #requestMessages: unknown[] = [];
  readonly #responseMessages: unknown[] = [];
  #dropped = 0;
  // What the body said about the status: gRPC-Web trailer envelope, Connect end-stream, triple unary error.
  #bodyTrailers: IncomingHeaders | undefined;
  #endStream: { code: Code; message: string } | undefined;
  #unaryError: { code: Code; message: string } | undefined;

  constructor(
    id: number,
    head: TapCallHead,
    options: { root: protobuf.Root; fallbackType?: protobuf.Type | undefined; sink: RecorderSink },
  ) {
    this.#id = id;
    this.#head = head;
    this.#sink = options.sink;
    this.#root = options.root;
    this.#type = parseContentType(headerValue(head.headers, "content-type"));
    const types = methodTypes(options.root, head.path, options.fallbackType);
    this.#input = types.input;
    this.#output = types.output;
    this.#streaming = types.streaming;
    this.#request = new DirectionReader(
      this.#type,
      (payload, flags) => this.#message(">", payload, flags),
      (why) => this.#line(`> (not decoded: ${why})`),
    );
    const protocol = this.#type === undefined ? "HTTP" : protocolName(this.#type);
    this.#line(`→ ${head.method} ${head.path} ${protocol} HTTP/${head.httpVersion}`);
    this.#line(`> headers ${JSON.stringify(plainHeaders(head.headers))}`);
  }

  requestData(chunk: Buffer): void {
    this.#guard(() => this.#request.push(chunk));
  }

  requestEnd(): void {
    this.#guard(() => {
      const body = this.#request.end();
      if (body !== undefined && (body.length > 0 || this.#type !== undefined)) {
        this.#message(">", inflate(body, this.#head.headers), undefined);
      }
    });
  }

  response(status: number, headers: IncomingHeaders, trailersOnly: boolean): void {
    this.#guard(() => {
      this.#status = status;
      this.#responseHeaders = headers;
      this.#trailersOnly = trailersOnly;
      this.#line(`< ${status}${trailersOnly ? " (trailers only)" : ""}`);
      this.#line(`< headers ${JSON.stringify(plainHeaders(headers))}`);
      this.#response = new DirectionReader(
        this.#type,
        (payload, flags) => this.#message("<", payload, flags),
        (why) => this.#line(`< (not decoded: ${why})`),
      );
    });
  }

  responseData(chunk: Buffer): void {
    this.#guard(() => this.#response?.push(chunk));
  }

  end(outcome: CallOutcome, trailers: IncomingHeaders | undefined, answeredBy?: string): void {
    this.#guard(() => {
      const body = this.#response?.end();
      if (body !== undefined && this.#status !== undefined) this.#unaryBody(body);
      if (trailers !== undefined && Object.keys(trailers).length > 0) {
        this.#line(`< trailers ${JSON.stringify(plainHeaders(trailers))}`);
      }
      const { code, message } = this.#outcome(outcome, trailers, answeredBy);
      const durationMs = Math.round((performance.now() - this.#started) * 100) / 100;
      const text = message === "" ? "" : `: ${message}`;
      this.#line(`← ${grpcCodeName(code)} (${code})${text} in ${durationMs} ms`);
      const call: TappedCall = {
        id: this.#id,
        method: this.#head.method,
        path: this.#head.path,
        protocol: this.#type === undefined ? "http" : this.#type.protocol,
        codec: this.#type?.codec,
        httpVersion: this.#head.httpVersion,
        requestHeaders: plainHeaders(this.#head.headers),
        status: this.#status,
        responseHeaders: this.#responseHeaders && plainHeaders(this.#responseHeaders),
        requestMessages: this.#requestMessages,
        responseMessages: this.#responseMessages,
        trailers: trailers ?? this.#bodyTrailers,
        code,
        codeName: grpcCodeName(code),
        message,
        durationMs,
      };
      if (answeredBy !== undefined) call.answeredBy = answeredBy;
      if (this.#dropped > 0) call.droppedMessages = this.#dropped;
      this.#sink.call(call);
    });
  }

  // A triple unary response: the message, or the JSON error of a non-200 answer.
  #unaryBody(body: Buffer): void {
    const status = this.#status!;
    if (status === 200) {
      this.#message("<", inflate(body, this.#responseHeaders ?? {}), undefined);
      return;
    }
    const fallback = codeFromHttpStatus(status);
    const error = decodeErrorJson(inflate(body, this.#responseHeaders ?? {}), fallback, new Map());
    this.#unaryError = { code: error?.code ?? fallback, message: error?.rawMessage ?? "" };
    if (body.length > 0) this.#line(`< error body ${body.toString("utf8").slice(0, 512)}`);
  }

  #message(direction: ">" | "<", payload: Buffer, flags: number | undefined): void {
    const type = direction === ">" ? this.#input : this.#output;
    const decoded = decodeMessage(0, payload, flags, { root: this.#root, type });
    if (decoded.trailers !== undefined) {
      this.#bodyTrailers = decoded.trailers;
      this.#line(`${direction} trailers ${JSON.stringify(decoded.trailers)}`);
      return;
    }
    if (decoded.endStream !== undefined) {
      try {
        const end = decodeEndStreamJson(payload);
        this.#endStream = { code: end.error?.code ?? Code.Ok, message: end.error?.rawMessage ?? "" };
      } catch {
        this.#endStream = { code: Code.Internal, message: "end-stream message is not JSON" };
      }
      this.#line(`${direction} end-stream ${JSON.stringify(decoded.endStream)}`);
      return;
    }
    const kept = messageValue(decoded);
    const list = direction === ">" ? this.#requestMessages : this.#responseMessages;
    if (list.length < maxKeptMessages) list.push(kept);
    else this.#dropped++;
    const flagText = decoded.flags === undefined ? "" : `${decoded.flags} `;
    this.#line(`${direction} ${flagText}${decoded.type ?? "message"} ${JSON.stringify(kept)}`);
    this.#sink.message(this.#id, direction === ">" ? "request" : "response", kept, this.#streaming);
  }

  #outcome(
    outcome: CallOutcome,
    trailers: IncomingHeaders | undefined,
    answeredBy: string | undefined,
  ): { code: Code; message: string } {
    if (answeredBy !== undefined) {
      return { code: outcome === "cancelled" ? Code.Canceled : Code.Unavailable, message: answeredBy };
    }
    const type = this.#type;
    if (type === undefined)
      return { code: this.#status === 200 ? Code.Ok : codeFromHttpStatus(this.#status ?? 502), message: "" };
    if (type.protocol === "triple" && !type.enveloped)
      return this.#unaryError ?? { code: Code.Ok, message: "" };
    if (type.protocol === "triple")
      return this.#endStream ?? { code: Code.Internal, message: "no end-stream message" };
    // gRPC and gRPC-Web: trailers, a trailer envelope, or (Trailers-Only) the head itself.
    const source = trailers ?? this.#bodyTrailers ?? (this.#trailersOnly ? this.#responseHeaders : undefined);
    if (source === undefined) return { code: Code.Internal, message: "no grpc-status" };
    const status = parseGrpcStatus(source);
    if (status === "missing") return { code: Code.Internal, message: "no grpc-status" };
    return status === undefined
      ? { code: Code.Ok, message: "" }
      : { code: status.code, message: status.rawMessage };
  }

  #line(text: string): void {
    this.#sink.line(`#${this.#id} ${text}`);
  }

  // The observer must never disturb the forwarding: a decoding bug costs a line, not the call.
  #guard(work: () => void): void {
    try {
      work();
    } catch (error) {
      this.#line(`(tap could not decode: ${(error as Error).message})`);
    }
  }
}

function protocolName(type: ContentTypeInfo): string {
  const name =
    type.protocol === "grpc"
      ? "gRPC"
      : type.protocol === "grpc-web"
        ? type.text
          ? "gRPC-Web-Text"
          : "gRPC-Web"
        : type.enveloped
          ? "triple streaming"
          : "triple";
  return `${name} ${type.codec}`;
}

/** Headers without HTTP/2 pseudo-headers (shown elsewhere) and node's raw-headers symbol. */
function plainHeaders(headers: IncomingHeaders): IncomingHeaders {
  const out: IncomingHeaders = {};
  for (const name of Object.keys(headers)) {
    if (name.startsWith(":")) continue;
    const value = headers[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** A unary body inflated when its `content-encoding` says gzip (as far as the tap's limit). */
function inflate(body: Buffer, headers: IncomingHeaders): Buffer {
  if (headerValue(headers, "content-encoding") !== "gzip") return body;
  try {
    return zlib.gunzipSync(body, { maxOutputLength: maxTappedMessageBytes });
  } catch {
    return body;
  }
}

function messageValue(decoded: DecodedMessage): unknown {
  if (decoded.message !== undefined) return decoded.message;
  const out: Record<string, unknown> = {};
  if (decoded.error !== undefined) out["error"] = decoded.error;
  if (decoded.fields !== undefined) out["fields"] = decoded.fields;
  return out;
}
