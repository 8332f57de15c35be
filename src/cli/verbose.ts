// `--verbose`: every header, message and trailer of a call on stderr, in the spirit of `grpcurl -v`.
import type { CallTrace, CallTraceEvent } from "../client/call-trace.ts";
import { envelopeFlagNames } from "../wire/envelope.ts";

function headerLines(
  prefix: string,
  headers: Readonly<Record<string, string | string[] | undefined>>,
): string {
  let out = "";
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) out += `${prefix}${name}: ${item}\n`;
  }
  return out;
}

function flagsText(flags: number | undefined): string {
  if (flags === undefined) return "unary body";
  const names = envelopeFlagNames(flags);
  const hex = `0x${flags.toString(16).padStart(2, "0")}`;
  return names.length === 0 ? `flags ${hex}` : `flags ${hex} ${names.join("|")}`;
}

/** Formats one trace event as lines: `>` for what was sent, `<` for what came back. @internal */
export function formatTraceEvent(event: CallTraceEvent): string {
  switch (event.type) {
    case "request":
      return `\n> POST ${event.url} HTTP/${event.httpVersion}\n${headerLines("> ", event.headers)}`;
    case "request-message":
      return `> message (${flagsText(event.flags)}): ${event.json}\n`;
    case "response":
      return `\n< status ${event.status}\n${headerLines("< ", event.headers)}`;
    case "response-message": {
      const body = event.endStream !== undefined ? JSON.stringify(event.endStream) : (event.json ?? "");
      return `< message (${flagsText(event.flags)}, ${event.length} bytes): ${body}\n`;
    }
    case "trailers": {
      const lines = headerLines("< trailer ", event.trailers);
      return lines === "" ? "< (no trailers)\n" : lines;
    }
    default:
      return "";
  }
}

/**
 * The `-v` trace hook: every event of every call, as {@link formatTraceEvent} writes it, to `out`.
 * @internal
 */
export function createVerboseTrace(out: NodeJS.WritableStream): CallTrace {
  return (event) => {
    const text = formatTraceEvent(event);
    if (text !== "") out.write(text);
  };
}
