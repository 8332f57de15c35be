/**
 * What a call reports to a trace hook, in order: for `--verbose` output (like `grpcurl -v`) and for
 * capturing real bytes. Strings are built only when a hook is set.
 */
export type CallTraceEvent =
  | {
      readonly type: "request";
      readonly httpVersion: "2" | "1.1";
      readonly url: string;
      readonly headers: Readonly<Record<string, string | string[]>>;
    }
  /** The whole request body as sent. */
  | { readonly type: "request-body"; readonly bytes: Uint8Array }
  /** One message as sent: `flags` is undefined for a triple unary body (no envelope). */
  | {
      readonly type: "request-message";
      readonly flags: number | undefined;
      readonly message: object;
      /** The message in the proto3 JSON mapping. */
      readonly json: string;
    }
  | {
      readonly type: "response";
      readonly status: number;
      readonly headers: Readonly<Record<string, string | string[] | undefined>>;
    }
  /** Response body bytes as they arrived (chunk boundaries are the transport's). */
  | { readonly type: "response-body"; readonly bytes: Uint8Array }
  /** One envelope (or a triple unary body, `flags` undefined) as received, decoded when it holds a message. */
  | {
      readonly type: "response-message";
      readonly flags: number | undefined;
      readonly length: number;
      readonly message?: object;
      /** The message in the proto3 JSON mapping. */
      readonly json?: string;
      /** The parsed end-stream JSON of a triple stream. */
      readonly endStream?: unknown;
    }
  | { readonly type: "trailers"; readonly trailers: Readonly<Record<string, string | string[] | undefined>> };

/** A hook that sees every step of every call of a client (its `trace` option), in order. */
export type CallTrace = (event: CallTraceEvent) => void;

/** The proto3 JSON text of a message, for trace events (computed only when a trace hook is set). @internal */
export function messageJson(codec: { encodeJson(message: never): Uint8Array }, message: object): string {
  try {
    return Buffer.from(codec.encodeJson(message as never)).toString("utf8");
  } catch {
    return JSON.stringify(message);
  }
}
