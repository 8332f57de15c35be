import type {
  CounterSeries,
  HistogramSeries,
  MetricFamily,
  MetricRegistry,
} from "../metrics/metric-registry.ts";
import type { ProtocolKind } from "../protocol/content-type.ts";
import { type Code, grpcCodeName } from "../wire/code.ts";

/** `other`: the service and method label of calls to paths no service claims (names from the network). */
export const otherLabel = "other";

const codeCount = 17;

function protocolIndex(protocol: ProtocolKind): number {
  return protocol === "grpc" ? 0 : protocol === "triple" ? 1 : 2;
}

/**
 * The call metrics of one server: `triple_health_server_calls_total{service,method,protocol,code}` and
 * `triple_health_server_call_duration_seconds{service,method,protocol}` (a server stream's is its
 * lifetime). Label values are the routes' own names, never the request's path.
 * @internal
 */
export class CallMetrics {
  /** @internal */
  readonly calls: MetricFamily<CounterSeries>;
  /** @internal */
  readonly duration: MetricFamily<HistogramSeries>;
  /** Calls to a path no service claims. */
  readonly unrouted: RouteCallMetrics;

  constructor(metrics: MetricRegistry) {
    this.calls = metrics.counter(
      "triple_health_server_calls_total",
      "RPCs answered, by service, method, protocol (grpc, grpc-web, triple) and gRPC status code.",
      ["service", "method", "protocol", "code"],
    );
    this.duration = metrics.histogram(
      "triple_health_server_call_duration_seconds",
      "Time from a call's request head to its answer (a server stream: to its end), by service, method and protocol.",
      ["service", "method", "protocol"],
    );
    this.unrouted = new RouteCallMetrics(this, otherLabel, otherLabel);
  }
}

/**
 * One route's series, resolved on first use and kept in arrays indexed by protocol and code: recording a
 * call adds to two numbers, with no string built and no map looked up.
 * @internal
 */
export class RouteCallMetrics {
  readonly #owner: CallMetrics;
  readonly #service: string;
  readonly #method: string;
  readonly #counts: (CounterSeries | undefined)[] = new Array(3 * codeCount).fill(undefined);
  readonly #durations: (HistogramSeries | undefined)[] = [undefined, undefined, undefined];

  constructor(owner: CallMetrics, service: string, method: string) {
    this.#owner = owner;
    this.#service = service;
    this.#method = method;
  }

  /** Counts one call that ended with `code`, `ms` after it began (on `performance.now()`'s scale). */
  record(protocol: ProtocolKind, code: Code, ms: number): void {
    const p = protocolIndex(protocol);
    const slot = p * codeCount + code;
    let count = this.#counts[slot];
    if (count === undefined) {
      count = this.#owner.calls.labels(this.#service, this.#method, protocol, grpcCodeName(code));
      this.#counts[slot] = count;
    }
    count.value++;
    let duration = this.#durations[p];
    if (duration === undefined) {
      duration = this.#owner.duration.labels(this.#service, this.#method, protocol);
      this.#durations[p] = duration;
    }
    duration.observe(ms / 1000);
  }
}
