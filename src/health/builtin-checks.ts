import { connect } from "node:net";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { getHeapStatistics } from "node:v8";
import { type Dispatcher, request } from "undici";
import type { CheckProbe } from "./checks.ts";

/**
 * Probes for {@link HealthCheckRunner.add}: spread one into a check with its services and timing,
 * `runner.add({ ...tcpCheck({ host, port }), services: ["db"], intervalMs: 5000 })`.
 */

export interface EventLoopDelayCheckOptions {
  /** Fails when the delay percentile since the last attempt is above this. Default 500 ms. */
  maxDelayMs?: number;
  /** Which percentile of the samples since the last attempt; 100 = the worst one. Default 99. */
  percentile?: number;
  /** Sampling resolution of `monitorEventLoopDelay`, ms. Default 20. */
  resolutionMs?: number;
  /** The check's name. Default `event-loop-delay`. */
  name?: string;
}

/**
 * Event-loop delay over a threshold (`perf_hooks.monitorEventLoopDelay`): a process whose loop is
 * that late answers everything late, so it should stop taking new work. The histogram is reset at
 * each attempt: each verdict covers the time since the previous one. No samples yet → passes.
 */
export function eventLoopDelayCheck(options: EventLoopDelayCheckOptions = {}): CheckProbe {
  const maxDelayMs = options.maxDelayMs ?? 500;
  const percentile = options.percentile ?? 99;
  const histogram = monitorEventLoopDelay({ resolution: options.resolutionMs ?? 20 });
  histogram.enable();
  return {
    name: options.name ?? "event-loop-delay",
    run() {
      const samples = histogram.count;
      const delayMs = (percentile >= 100 ? histogram.max : histogram.percentile(percentile)) / 1e6;
      histogram.reset();
      if (samples > 0 && delayMs > maxDelayMs)
        throw new Error(`event loop delay p${percentile} ${delayMs.toFixed(1)} ms is over ${maxDelayMs} ms`);
    },
    close() {
      histogram.disable();
    },
  };
}

/** A reading of the V8 heap, as {@link HeapCheckOptions.read} returns it. */
export interface HeapUsage {
  /** Bytes in use on the V8 heap. */
  used: number;
  /** The heap's size limit (`--max-old-space-size` and friends). */
  limit: number;
}

/** Options of {@link heapCheck}: when the heap counts as too full. */
export interface HeapCheckOptions {
  /** Fails when used / limit is above this. Default 0.9. */
  maxRatio?: number;
  /** Fails when more bytes than this are in use. No default. */
  maxBytes?: number;
  /** How usage is read; `process.memoryUsage().heapUsed` and V8's `heap_size_limit` by default. */
  read?: () => HeapUsage;
  /** The check's name. Default `heap`. */
  name?: string;
}

const readHeap = (): HeapUsage => ({
  used: process.memoryUsage().heapUsed,
  limit: getHeapStatistics().heap_size_limit,
});

/** Heap use over a threshold, as a ratio of the heap limit and/or in bytes. */
export function heapCheck(options: HeapCheckOptions = {}): CheckProbe {
  const maxRatio = options.maxRatio ?? 0.9;
  const read = options.read ?? readHeap;
  return {
    name: options.name ?? "heap",
    run() {
      const { used, limit } = read();
      const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;
      if (options.maxBytes !== undefined && used > options.maxBytes)
        throw new Error(`heap use ${mib(used)} is over ${mib(options.maxBytes)}`);
      if (used / limit > maxRatio)
        throw new Error(`heap use ${mib(used)} is ${((100 * used) / limit).toFixed(1)}% of ${mib(limit)}`);
    },
  };
}

/** Options of {@link tcpCheck}: the dependency's address. */
export interface TcpCheckOptions {
  host: string;
  port: number;
  /** The check's name. Default `tcp host:port`. */
  name?: string;
}

/** A TCP connection to a dependency can be opened (it is closed again at once). */
export function tcpCheck(options: TcpCheckOptions): CheckProbe {
  const { host, port } = options;
  return {
    name: options.name ?? `tcp ${host}:${port}`,
    run: (signal) =>
      new Promise<void>((resolve, reject) => {
        const socket = connect({ host, port });
        const onAbort = () => {
          socket.destroy();
          reject(signal.reason);
        };
        signal.addEventListener("abort", onAbort, { once: true });
        socket.once("connect", () => {
          signal.removeEventListener("abort", onAbort);
          socket.destroy();
          resolve();
        });
        socket.once("error", (error: NodeJS.ErrnoException) => {
          signal.removeEventListener("abort", onAbort);
          socket.destroy();
          reject(new Error(`connect ${host}:${port}: ${error.code ?? error.message}`));
        });
      }),
  };
}

/** Options of {@link httpCheck}: the request to make and the statuses that pass. */
export interface HttpCheckOptions {
  /** The dependency's health endpoint, `http://` or `https://`. */
  url: string | URL;
  /** Default GET. */
  method?: "GET" | "HEAD";
  /** Request headers (a token, a `host`). */
  headers?: Record<string, string>;
  /** Which statuses pass; by default 200–399, as a Kubernetes httpGet probe. Redirects are not followed. */
  expectStatus?: (status: number) => boolean;
  /** undici dispatcher to use (a pool with TLS settings, say); the global one by default. */
  dispatcher?: Dispatcher;
  /** The check's name. Default `http origin/path`. */
  name?: string;
}

/** An HTTP request to a dependency answers with an expected status (HTTP/1.1 through undici). */
export function httpCheck(options: HttpCheckOptions): CheckProbe {
  const url = new URL(options.url);
  const expect = options.expectStatus ?? ((status: number) => status >= 200 && status < 400);
  return {
    name: options.name ?? `http ${url.origin}${url.pathname}`,
    async run(signal) {
      const response = await request(url, {
        method: options.method ?? "GET",
        headers: options.headers,
        signal,
        dispatcher: options.dispatcher,
      });
      // The body is not needed; reading it to the end lets the connection be reused.
      await response.body.dump();
      if (!expect(response.statusCode)) throw new Error(`HTTP ${response.statusCode} from ${url.origin}`);
    },
  };
}
