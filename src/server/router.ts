import { ConfigError } from "../wire/config-error.ts";
import { clipPeerText } from "../wire/peer-text.ts";
import type { MethodDefinition, ServiceMethods } from "./service-types.ts";

/** One routable method: `/{service}/{method}`. @internal */
export interface Route {
  readonly service: string;
  readonly method: string;
  readonly path: string;
  readonly definition: MethodDefinition;
}

const serviceNamePattern = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;
const methodNamePattern = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Maps request paths to methods. A lookup is one `Map.get` on the path as received; paths with a
 * query string are looked up without it.
 * @internal
 */
export class Router {
  readonly #routes = new Map<string, Route>();
  readonly #services = new Map<string, ServiceMethods>();

  /** Service names, in the order they were added. */
  get services(): string[] {
    return [...this.#services.keys()];
  }

  has(service: string): boolean {
    return this.#services.has(service);
  }

  add(service: string, methods: ServiceMethods): void {
    if (!serviceNamePattern.test(service))
      throw new ConfigError(`invalid service name ${JSON.stringify(service)}`);
    if (this.#services.has(service)) throw new ConfigError(`service ${service} is already added`);
    const entries = Object.entries(methods);
    for (const [method, definition] of entries) {
      if (!methodNamePattern.test(method))
        throw new ConfigError(`invalid method name ${JSON.stringify(method)}`);
      if (definition.kind !== "unary" && definition.kind !== "server_streaming") {
        throw new ConfigError(
          `method ${service}/${method}: unsupported kind ${JSON.stringify((definition as { kind: unknown }).kind)}`,
        );
      }
    }
    this.#services.set(service, methods);
    for (const [method, definition] of entries) {
      const path = `/${service}/${method}`;
      this.#routes.set(path, { service, method, path, definition });
    }
  }

  /** The route of a request path, or undefined. */
  find(url: string): Route | undefined {
    const found = this.#routes.get(url);
    if (found !== undefined) return found;
    const query = url.indexOf("?");
    return query < 0 ? undefined : this.#routes.get(url.slice(0, query));
  }

  /**
   * Why a path is not routed, as the UNIMPLEMENTED message: unknown service or unknown method.
   * Long names are cut so an error never echoes kilobytes back.
   */
  describeMiss(url: string): string {
    const path = url.split("?")[0]!;
    const parts = path.split("/");
    if (parts.length !== 3 || parts[0] !== "" || parts[1] === "" || parts[2] === "") {
      return `unknown path ${clipPeerText(path)}`;
    }
    const service = parts[1]!;
    if (!this.#services.has(service)) return `unknown service ${clipPeerText(service)}`;
    return `unknown method ${clipPeerText(parts[2]!)} for service ${service}`;
  }
}
