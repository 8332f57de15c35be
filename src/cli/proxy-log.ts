// What `triple-health proxy` says about its upstreams: each health change, the cause of each outage, each
// ejection and routing change, once, as text or as JSON lines with serve's field names (-log json).
import type { PickerEvent } from "../client/picker-events.ts";
import { servingStatusName } from "../codec/health-types.ts";
import type { DiscoveryEvent } from "../discovery/provider-discovery.ts";
import { describeDiscoveryEvent } from "./discovery-flags.ts";

/**
 * One line per picker event (the text of `-v`, and of `discover -watch`); `levels`, for an endpoint found
 * in a registry, are the Dubbo levels that list it.
 * @internal
 */
export function describeEvent(event: PickerEvent, levels?: readonly string[]): string {
  switch (event.type) {
    case "status":
      return `${event.endpoint} ${event.status === undefined ? "UNKNOWN" : servingStatusName(event.status)} (${event.reason})`;
    case "connected":
      return `${event.endpoint} health stream up`;
    case "disconnected":
      return `${event.endpoint} health stream lost${event.error === undefined ? "" : `: ${event.error.message}`}`;
    case "reconnect":
      return `${event.endpoint} reconnect #${event.attempt} in ${event.delayMs} ms${event.error === undefined ? "" : ` after: ${event.error.message}`}`;
    case "ejected":
      return `${event.endpoint} ejected for ${event.durationMs} ms (ejection ${event.ejections})`;
    case "restored":
      return `${event.endpoint} back from ejection (${event.reason})`;
    case "added":
      return `${event.endpoint} discovered${levels === undefined || levels.length === 0 ? "" : ` (${levels.join("+")} level)`}`;
    case "removed":
      return `${event.endpoint} gone from the registry${event.outstanding > 0 ? ` (${event.outstanding} calls in flight finish)` : ""}`;
    case "invalid":
      return `${event.endpoint} skipped: ${event.reason}`;
    case "source":
      return event.down
        ? `registry lost (${event.reason}): keeping the last known upstreams`
        : `registry back (${event.reason})`;
    case "panic":
      return event.active
        ? `panic: ${event.healthy} of ${event.total} healthy, routing to every reachable upstream`
        : `panic over: ${event.healthy} of ${event.total} healthy`;
    default:
      return `routing to ${event.endpoints.length === 0 ? "nothing" : event.endpoints.join(", ")}${event.panic ? " (panic)" : ""}`;
  }
}

/** Options of a {@link ProxyLog}. @internal */
export interface ProxyLogOptions {
  /** JSON lines (`-log json`) instead of text. */
  json: boolean;
  /** Every event (`-v`), not only the changes. */
  verbose: boolean;
  /** The proxied service (`""`: each upstream as a whole): the `service` field of JSON lines. */
  service: string;
  /** The upstreams (none yet with -registry: those found later count); routing is not reported before each
   * has answered (or failed) once. */
  endpoints: readonly string[];
  /** Writes one line (with its newline). */
  write: (line: string) => void;
  /** The picker's routing now, for the first routing line when no change came since the log was made. */
  routing: () => { readonly endpoints: readonly string[]; readonly panic: boolean };
  /** The picker clock's now(), for that line's time. */
  now: () => number;
  /** With -registry: the Dubbo levels that list an endpoint found there, for its `added` line. */
  levels?: (endpoint: string) => readonly string[] | undefined;
}

/**
 * Turns picker events into the proxy's log. Until every upstream has answered or failed once (or
 * {@link startupOver} is called at the startup timeout) routing and panic are not reported: every upstream
 * starts unknown, and "panic" then only means "not answered yet". After that, one line for the routing
 * state, then one per change. An outage is reported once, with its cause (the first failed attempt of an
 * upstream never reached, or the loss of its health stream); further reconnect attempts only with `-v`.
 * Text lines: `TIME upstream URL …`; JSON lines: `{time, service, upstream, event, status, previous, reason,
 * source}`, the field names of serve's `-log json` (`source` is `upstream` or `proxy`).
 * @internal
 */
export class ProxyLog {
  readonly #options: ProxyLogOptions;
  readonly #waiting: Set<string>;
  // Routing and panic lines are let out (every upstream answered once, or the startup timeout passed).
  #open = false;
  // The log said routing is in panic (a panic line, or a routing line with "(panic)") and not its end yet.
  #panicShown = false;
  // Upstreams in an outage already reported (cleared when they answer again).
  readonly #down = new Set<string>();

  constructor(options: ProxyLogOptions) {
    this.#options = options;
    this.#waiting = new Set(options.endpoints);
  }

  /** True once routing is reported (every upstream answered or failed, or the startup timeout passed). */
  get started(): boolean {
    return this.#open;
  }

  /** Handles one picker event. */
  onEvent(event: PickerEvent): void {
    const verbose = this.#options.verbose;
    switch (event.type) {
      case "status":
        if (event.status !== undefined) this.#down.delete(event.endpoint);
        this.#line(event, `upstream ${describeEvent(event)}`, {
          upstream: event.endpoint,
          event: "status",
          status: event.status === undefined ? "UNKNOWN" : servingStatusName(event.status),
          previous: event.previous === undefined ? null : servingStatusName(event.previous),
          reason: event.reason,
          source: "upstream",
        });
        if (event.status !== undefined) this.#answered(event.endpoint);
        return;
      case "connected":
        this.#down.delete(event.endpoint);
        if (verbose)
          this.#line(
            event,
            `upstream ${describeEvent(event)}`,
            this.#fields(event.endpoint, "connected", "health stream up"),
          );
        return;
      case "disconnected":
        this.#down.add(event.endpoint);
        this.#line(
          event,
          `upstream ${describeEvent(event)}`,
          this.#fields(event.endpoint, "disconnected", event.error?.message ?? "health stream ended"),
        );
        this.#answered(event.endpoint);
        return;
      case "reconnect": {
        // The first failure of an upstream never reached is its outage's only report; the rest with -v.
        const first = !this.#down.has(event.endpoint);
        this.#down.add(event.endpoint);
        if (first || verbose) {
          const cause = event.error?.message ?? "no answer";
          const text = first
            ? `upstream ${event.endpoint} unreachable: ${cause} (retrying in ${event.delayMs} ms)`
            : `upstream ${describeEvent(event)}`;
          this.#line(event, text, {
            ...this.#fields(event.endpoint, first ? "unreachable" : "reconnect", cause),
            attempt: event.attempt,
            delayMs: event.delayMs,
          });
        }
        this.#answered(event.endpoint);
        return;
      }
      case "ejected":
        this.#line(event, `upstream ${describeEvent(event)}`, {
          ...this.#fields(event.endpoint, "ejected", `failed calls in a row: out for ${event.durationMs} ms`),
          durationMs: event.durationMs,
          ejections: event.ejections,
        });
        return;
      case "restored":
        this.#line(
          event,
          `upstream ${describeEvent(event)}`,
          this.#fields(event.endpoint, "restored", event.reason),
        );
        return;
      case "added": {
        // Found before routing was first reported: routing waits for its first answer too.
        if (!this.#open) this.#waiting.add(event.endpoint);
        const levels = this.#options.levels?.(event.endpoint);
        this.#line(event, `upstream ${describeEvent(event, levels)}`, {
          ...this.#fields(event.endpoint, "added", "discovered"),
          ...(levels === undefined ? {} : { levels }),
        });
        return;
      }
      case "removed":
        this.#down.delete(event.endpoint);
        this.#line(
          event,
          `upstream ${describeEvent(event)}`,
          this.#fields(event.endpoint, "removed", "gone from the registry"),
        );
        this.#answered(event.endpoint);
        return;
      case "invalid":
        this.#line(
          event,
          `upstream ${describeEvent(event)}`,
          this.#fields(event.endpoint, "invalid", event.reason),
        );
        return;
      case "source":
        this.#line(event, describeEvent(event), {
          event: event.down ? "registry-lost" : "registry-back",
          reason: event.reason,
          source: "proxy",
        });
        return;
      case "panic":
        // Not before routing is reported; and an end only of a panic the log told of.
        if (!this.started || (!event.active && !this.#panicShown)) return;
        this.#panicShown = event.active;
        this.#line(event, describeEvent(event), {
          event: "panic",
          active: event.active,
          healthy: event.healthy,
          total: event.total,
          reason: describeEvent(event),
          source: "proxy",
        });
        return;
      default:
        if (this.started) this.#routingLine(event, "");
    }
  }

  /**
   * What discovery reports beside the picker's events: entries skipped as unusable and failed registry
   * reads. Providers found and gone, and the registry's outages, reach the log once, as picker events.
   */
  onDiscovery(event: DiscoveryEvent): void {
    if (event.type !== "skipped" && event.type !== "error") return;
    const reason = describeDiscoveryEvent(event);
    const time = new Date(event.time).toISOString();
    this.#options.write(
      this.#options.json
        ? `${JSON.stringify({
            time,
            service: this.#options.service,
            event: event.type === "skipped" ? "skipped" : "registry-error",
            reason,
            source: "proxy",
          })}\n`
        : `${time} registry: ${reason}\n`,
    );
  }

  /** The startup timeout passed: report routing now, saying which upstreams have not answered. */
  startupOver(): void {
    if (this.#open) return;
    const silent = [...this.#waiting];
    this.#waiting.clear();
    this.#flush(
      silent.length === 0
        ? " (startup timeout: no upstream found yet)"
        : ` (startup timeout: no answer yet from ${silent.join(", ")})`,
    );
  }

  #answered(endpoint: string): void {
    if (this.#open || !this.#waiting.delete(endpoint) || this.#waiting.size > 0) return;
    this.#flush("");
  }

  #flush(note: string): void {
    this.#open = true;
    // The picker's routing now, not the last routing event held back: the picker updates its state before
    // it emits the event that lets the log out (an upstream's first answer), so a held event may still say
    // "panic" that this very answer ended.
    this.#routingLine({ type: "routable", ...this.#options.routing(), time: this.#options.now() }, note);
  }

  #routingLine(event: Extract<PickerEvent, { type: "routable" }>, note: string): void {
    if (event.panic) this.#panicShown = true;
    this.#line(event, `${describeEvent(event)}${note}`, {
      event: "routing",
      upstreams: event.endpoints,
      panic: event.panic,
      reason: `${describeEvent(event)}${note}`,
      source: "proxy",
    });
  }

  #fields(upstream: string, event: string, reason: string): Record<string, unknown> {
    return { upstream, event, reason, source: "upstream" };
  }

  #line(event: PickerEvent, text: string, fields: Record<string, unknown>): void {
    const time = new Date(event.time).toISOString();
    this.#options.write(
      this.#options.json
        ? `${JSON.stringify({ time, service: this.#options.service, ...fields })}\n`
        : `${time} ${text}\n`,
    );
  }
}
