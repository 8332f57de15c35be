import { type Dispatcher, request } from "undici";

/** One service as `GET /admin/health` describes it. */
export interface AdminServiceStatus {
  service: string;
  status: string;
  reason: string;
  since: string;
  sinceMs: number;
  base: string | null;
  override: string | null;
  failing: Array<{ source: string; reason: string }>;
}

/** The body of `GET /admin/health`. */
export interface AdminHealthReport {
  draining: boolean;
  shutdown: boolean;
  services: AdminServiceStatus[];
  checks?: Array<Record<string, unknown>>;
}

export interface AdminClientOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Default `/admin`, as the handler's. */
  prefix?: string;
  /** Per request. Default 5,000 ms. */
  timeoutMs?: number;
  /** undici dispatcher (TLS settings for `https://`); a one-off connection per request by default. */
  dispatcher?: Dispatcher;
}

/** The admin surface answered with an error status; `message` is the server's `error` text. */
export class AdminRequestError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = "AdminRequestError";
    this.status = status;
  }
}

export interface AdminClient {
  /** `GET /admin/health`. */
  status(): Promise<AdminHealthReport>;
  /** `POST /admin/drain`. */
  drain(reason?: string): Promise<{ draining: boolean }>;
  /** `POST /admin/resume`. */
  resume(reason?: string): Promise<{ draining: boolean }>;
  /** `POST /admin/set`: an override, or `null` to clear it. */
  set(
    service: string,
    status: string | null,
    reason?: string,
  ): Promise<{ service: string; override: string | null; status: string }>;
}

/**
 * A client of {@link createAdminHandler}'s endpoints over HTTP/1.1 (undici). `addr` is `host:port` or an
 * `http(s)://host:port` URL. Failures to connect reject with undici's error; error statuses with
 * {@link AdminRequestError}.
 */
export function createAdminClient(addr: string, options: AdminClientOptions = {}): AdminClient {
  const origin = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(addr) ? addr : `http://${addr}`).origin;
  const prefix = (options.prefix ?? "/admin").replace(/\/+$/, "");
  const timeoutMs = options.timeoutMs ?? 5_000;
  const headers: Record<string, string> =
    options.token === undefined ? {} : { authorization: `Bearer ${options.token}` };

  const send = async <T>(method: "GET" | "POST", path: string, body?: object): Promise<T> => {
    const response = await request(`${origin}${prefix}/${path}`, {
      method,
      headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
      dispatcher: options.dispatcher,
      // A command-line call makes one request: do not leave a kept-alive socket holding the process.
      reset: options.dispatcher === undefined,
    });
    const text = await response.body.text();
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = undefined;
    }
    if (response.statusCode !== 200) {
      const message = (value as { error?: unknown } | undefined)?.error;
      throw new AdminRequestError(
        response.statusCode,
        typeof message === "string" ? message : `HTTP ${response.statusCode}`,
      );
    }
    if (value === undefined) throw new AdminRequestError(response.statusCode, "the answer is not JSON");
    return value as T;
  };

  const withReason = (reason: string | undefined) => (reason === undefined ? {} : { reason });
  return {
    status: () => send("GET", "health"),
    drain: (reason) => send("POST", "drain", withReason(reason)),
    resume: (reason) => send("POST", "resume", withReason(reason)),
    set: (service, status, reason) => send("POST", "set", { service, status, ...withReason(reason) }),
  };
}
