/**
 * The one error for bad configuration: an option out of range, a malformed service or method name, a
 * duplicate registration, a dependency cycle. Thrown synchronously where the configuration is given
 * (constructors, `addService`, `defineService`, `add`), never on the wire: wire failures are
 * {@link RpcError}s. A `TypeError`, as Node's own invalid-argument errors are, with a stable `code`.
 */
export class ConfigError extends TypeError {
  /** Always `"ERR_TRIPLE_HEALTH_CONFIG"`: test for it instead of matching the message. */
  readonly code = "ERR_TRIPLE_HEALTH_CONFIG";

  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}
