import { type Dispatcher, request } from "undici";
import { readAll } from "../wire/read-all.ts";

/** One service as `GET /admin/health` describes it. */
export interface AdminServiceStatus {
  /** The service name; `""` is the whole server. */
  service: string;
  /** Effective status by name (`"SERVING"`): what Check answers. */
  status: string;
  /** Why the effective status last changed. */
  reason: string;
  /** When it last changed, as an ISO time. */
  since: string;
  /** The same time, in ms since the epoch. */
  sinceMs: number;
  /** What the application last set, before drain, override and checks; `null`: the default SERVING. */
  base: string | null;
  /** The operator's override (`triple-health set`), or `null`. */
  override: string | null;
  /** Checks holding the service down, by source name, with their reasons. */
  failing: Array<{ source: string; reason: string }>;
  /** The layer that decides the status now: `shutdown`, `drain`, `override`, `check` or `set`. */
  source: string;
}

/** The body of `GET /admin/health`. */
export interface AdminHealthReport {
  /** Drained (every status NOT_SERVING) until resumed. */
  draining: boolean;
  /** The server is shutting down; it cannot be resumed. */
  shutdown: boolean;
  services: AdminServiceStatus[];
  /**
   * The last 50 changes the admin handler saw, oldest first: `from`/`to` status names (`null`: not
   * registered before / cleared), the reason and the source as above (`clear` for a cleared service).
   */
  changes: Array<{
    time: string;
    timeMs: number;
    service: string;
    from: string | null;
    to: string | null;
    reason: string;
    source: string;
  }>;
  /** Each check's state, when the server gave the admin handler its check runner. */
  checks?: Array<Record<string, unknown>>;
  /** What the server registered (`registry`, `session`, `nodes`, `lastError`…), when it has a registry. */
  registration?: Record<string, unknown>;
}

/** Options of {@link createAdminClient}: credentials, path prefix, timeout, connection and size limit. */
export interface AdminClientOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Default `/admin`, as the handler's. */
  prefix?: string;
  /** Per request. Default 5,000 ms. */
  timeoutMs?: number;
  /** undici dispatcher (TLS settings for `https://`); a one-off connection per request by default. */
  dispatcher?: Dispatcher;
  /**
   * Largest response body read, in bytes; a longer one rejects with {@link AdminRequestError} once the
   * limit is passed, without reading the rest. Default 4 MiB.
   */
  maxResponseBytes?: number;
}

// A report of 10,000 healthy services (about 190 bytes each) is under half of it; a runaway answer is not.
const defaultMaxResponseBytes = 4 * 1024 * 1024;

/**
 * The admin surface answered with an error status (`message` is the server's `error` text), or with an
 * answer the client cannot use: not JSON, or longer than `maxResponseBytes`.
 */
export class AdminRequestError extends Error {
  /** The HTTP status of the answer. */
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = "AdminRequestError";
    this.status = status;
  }
}

/** The operator's calls on a server's admin surface, what `triple-health status|drain|resume|set` make. */
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
  const maxResponseBytes = options.maxResponseBytes ?? defaultMaxResponseBytes;
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
    const text = await readAnswer(response, maxResponseBytes);
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

// A declared length over the limit fails before any byte is read; a longer stream at the first chunk past it.
async function readAnswer(response: Dispatcher.ResponseData, maxBytes: number): Promise<string> {
  const tooLarge = () =>
    new AdminRequestError(
      response.statusCode,
      `the answer is larger than the limit of ${maxBytes} bytes (maxResponseBytes)`,
    );
  if (Number(response.headers["content-length"]) > maxBytes) {
    response.body.destroy();
    throw tooLarge();
  }
  return new TextDecoder().decode(await readAll(response.body, maxBytes, tooLarge));
}
