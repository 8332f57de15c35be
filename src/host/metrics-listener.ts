import http from "node:http";
import type net from "node:net";
import type { MetricRegistry } from "../metrics/metric-registry.ts";
import { answerMetrics, defaultMetricsPath } from "../server/metrics-handler.ts";

/**
 * A plain HTTP/1.1 listener of its own for `GET /metrics`, for deployments that scrape another port than
 * the one serving RPCs (`serve --metrics host:port`). It answers nothing else (404), reads no request
 * body, and bounds what a client may hold: 8 KiB of headers, 10 s to send them, 100 connections.
 */
export class MetricsListener {
  readonly #server: http.Server;
  #address: { host: string; port: number } | undefined;

  constructor(metrics: MetricRegistry) {
    this.#server = http.createServer(
      { maxHeaderSize: 8192, requestTimeout: 10_000, headersTimeout: 10_000, keepAliveTimeout: 30_000 },
      (req, res) => {
        const path = (req.url ?? "").split("?", 1)[0];
        const answer =
          path === defaultMetricsPath
            ? answerMetrics(metrics, {
                method: req.method ?? "GET",
                path,
                query: new URLSearchParams(),
                headers: req.headers as Record<string, string | undefined>,
                remoteAddress: req.socket.remoteAddress,
                body: new Uint8Array(0),
              })
            : {
                status: 404,
                headers: { "content-type": "text/plain; charset=utf-8" },
                body: "not found: try /metrics\n",
              };
        res.writeHead(answer.status, answer.headers);
        res.end(answer.body);
        // A request body is never read: a client sending one gets the answer and the connection closed.
        req.resume();
      },
    );
    this.#server.maxConnections = 100;
  }

  /** The bound address, once listening. */
  get address(): { host: string; port: number } | undefined {
    return this.#address;
  }

  /** Listens on `host:port` (0 picks a free port). */
  listen(port: number, host: string): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(port, host, () => {
        this.#server.off("error", reject);
        const bound = this.#server.address() as net.AddressInfo;
        this.#address = { host: bound.address, port: bound.port };
        resolve(this.#address);
      });
    });
  }

  /** Stops listening and closes its connections. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}
