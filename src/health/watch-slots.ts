import { isIPv6 } from "node:net";
import { Code } from "../wire/code.ts";
import { RpcError } from "../wire/rpc-error.ts";

/**
 * The Watch streams each connection and each client address hold, so that no one client takes every
 * watcher slot of the registry: per connection (`maxPerConnection`) and per remote address
 * (`maxPerAddress`, an IPv6 client counted by its /64, which one host can fill with addresses).
 * @internal
 */
export class WatchSlots {
  readonly #maxPerConnection: number;
  readonly #maxPerAddress: number;
  // Entries go with their connection objects.
  readonly #perConnection = new WeakMap<object, number>();
  // Only addresses holding a slot: an entry is deleted at zero.
  readonly #perAddress = new Map<string, number>();

  constructor(maxPerConnection: number, maxPerAddress: number) {
    this.#maxPerConnection = maxPerConnection;
    this.#maxPerAddress = maxPerAddress;
  }

  /**
   * Takes one slot, or throws RESOURCE_EXHAUSTED naming the limit. Returns the address share it is
   * charged to, for {@link release}.
   */
  acquire(connection: object | undefined, remoteAddress: string | undefined): string {
    const address = addressShareKey(remoteAddress);
    const onConnection = connection === undefined ? 0 : (this.#perConnection.get(connection) ?? 0);
    if (onConnection >= this.#maxPerConnection)
      throw new RpcError(
        Code.ResourceExhausted,
        `too many Watch streams on one connection (limit ${this.#maxPerConnection})`,
      );
    const fromAddress = this.#perAddress.get(address) ?? 0;
    if (fromAddress >= this.#maxPerAddress)
      throw new RpcError(
        Code.ResourceExhausted,
        `too many Watch streams from one client address (limit ${this.#maxPerAddress})`,
      );
    if (connection !== undefined) this.#perConnection.set(connection, onConnection + 1);
    this.#perAddress.set(address, fromAddress + 1);
    return address;
  }

  /** Gives back a slot {@link acquire} took on `connection`, charged to `address` (what it returned). */
  release(connection: object | undefined, address: string): void {
    if (connection !== undefined)
      this.#perConnection.set(connection, (this.#perConnection.get(connection) ?? 1) - 1);
    const left = (this.#perAddress.get(address) ?? 1) - 1;
    if (left > 0) this.#perAddress.set(address, left);
    else this.#perAddress.delete(address);
  }

  /** Watch streams from one client address now (its share key: see {@link addressShareKey}). */
  heldBy(remoteAddress: string | undefined): number {
    return this.#perAddress.get(addressShareKey(remoteAddress)) ?? 0;
  }
}

/**
 * The key a client's address share is counted under: an IPv4 address as it is (also when written as
 * IPv4-mapped IPv6, `::ffff:10.0.0.1`), an IPv6 address by its /64 prefix, `""` when unknown (a socket
 * already gone).
 * @internal
 */
export function addressShareKey(address: string | undefined): string {
  if (address === undefined) return "";
  if (!isIPv6(address)) return address;
  const zone = address.indexOf("%");
  const bare = (zone === -1 ? address : address.slice(0, zone)).toLowerCase();
  if (bare.startsWith("::ffff:") && bare.includes(".")) return bare.slice(7);
  return `${expandIPv6(bare).slice(0, 4).join(":")}::/64`;
}

// The eight groups of an IPv6 address (valid, as node:net reported it), each without leading zeros.
function expandIPv6(address: string): string[] {
  const [head = "", tail] = address.split("::");
  const groups = (part: string) => (part === "" ? [] : part.split(":"));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  // A trailing embedded IPv4 part (`::1.2.3.4`) is two groups; the prefix never reaches it.
  const rightCount = right.reduce((n, group) => n + (group.includes(".") ? 2 : 1), 0);
  const zeros = Array.from({ length: Math.max(0, 8 - left.length - rightCount) }, () => "0");
  return [...left, ...zeros, ...right].map((group) =>
    group.includes(".") ? group : Number.parseInt(group, 16).toString(16),
  );
}
