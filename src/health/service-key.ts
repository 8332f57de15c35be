/**
 * Dubbo's service key, the name dubbo-go registers health under and its consumers Watch:
 * `group/interface:version`, each part only when set, and version `0.0.0` counted as none (dubbo-go
 * `common/url.go` `ServiceKey`). Without group and version it is the bare interface name.
 *
 * ```ts
 * serviceKey("greet.GreetService", "g1", "1.0.0"); // "g1/greet.GreetService:1.0.0"
 * serviceKey("greet.GreetService", "", "0.0.0");   // "greet.GreetService"
 * ```
 */
export function serviceKey(service: string, group = "", version = ""): string {
  const prefix = group === "" ? "" : `${group}/`;
  const suffix = version === "" || version === "0.0.0" ? "" : `:${version}`;
  return `${prefix}${service}${suffix}`;
}
