import http2 from "node:http2";
import type net from "node:net";
import { Code } from "../wire/code.ts";
import { ConfigError } from "../wire/config-error.ts";
import { RpcError } from "../wire/rpc-error.ts";
import type { StreamListener } from "./header-list-limit.ts";

/**
 * Byte budgets (hardening II item 12): every byte the server holds on behalf of a peer — request bytes
 * buffered until a message is complete, response bytes handed to node and not yet sent — counts against
 * the budget of its connection and the port's total. The per-stream level is the message limit
 * (`maxMessageBytes`), enforced by the call itself.
 *
 * Past a budget the server never grows: the call holding the most bytes on the connection that went over
 * (for the total: on the connection holding most) is ended — RESOURCE_EXHAUSTED while it is still reading
 * its request, reset once its response is what is held — and that connection, if HTTP/2, takes no new
 * stream (RST_STREAM REFUSED_STREAM, before any handler runs) until it holds at most half of what it held
 * then. An HTTP/1.1 connection carries one request at a time and is closed with the call it was ending.
 * The total thus passes its budget by one chunk at most, and only until that call is ended.
 *
 * Cost: nothing for a call whose request is one chunk and whose response is small (a Check) — accounts
 * are looked up on a call's first charge, and holders are tracked only while they hold bytes.
 */

/** Something that holds bytes on behalf of a peer: a call's buffered request, or its queued response. */
export interface BudgetHolder {
  /** Bytes charged to its account now. Kept by {@link ConnectionAccount}; read it, never write it. */
  budgetBytes: number;
  /**
   * Ends the holder: it holds the most bytes on a connection past its budget. Its bytes are already
   * released when this is called; it must drop them (and hold nothing more) and end its call.
   */
  endOverBudget(error: RpcError): void;
}

/** Response writes at least this large are charged at once; smaller ones only once the stream pushes back. */
export const largeWriteBytes = 16 * 1024;

const kAccount = Symbol("triple-health.budget-account");
type Accounted = { [kAccount]?: ConnectionAccount };

const { NGHTTP2_REFUSED_STREAM } = http2.constants;

function ignoreError(): void {}

/** The bytes one connection (an HTTP/2 session, an HTTP/1.1 socket) holds, and the calls holding them. */
export class ConnectionAccount {
  readonly budget: ByteBudget;
  /** Bytes charged to calls on this connection now. */
  bytes = 0;
  /** New HTTP/2 streams are refused while this is set: the connection went over a budget. */
  refusing = false;
  // Once refusing, new work is taken again when the connection holds at most this.
  #resumeAt = 0;
  readonly #holders = new Set<BudgetHolder>();

  constructor(budget: ByteBudget) {
    this.budget = budget;
  }

  /**
   * Sets what `holder` holds to `bytes` (up or down; 0 releases it). Going over a budget ends the worst
   * offender before this returns — which may be `holder` itself: callers check their own state after.
   */
  set(holder: BudgetHolder, bytes: number): void {
    const delta = bytes - holder.budgetBytes;
    if (delta === 0) return;
    holder.budgetBytes = bytes;
    this.bytes += delta;
    const budget = this.budget;
    budget.total += delta;
    if (bytes === 0) {
      this.#holders.delete(holder);
      if (this.bytes === 0) budget.holding.delete(this);
    } else {
      this.#holders.add(holder);
      budget.holding.add(this);
    }
    if (delta < 0) {
      if (this.refusing && this.bytes <= this.#resumeAt) this.refusing = false;
      return;
    }
    const limit = budget.connectionLimit;
    if (limit > 0 && this.bytes > limit) {
      this.overflow(
        new RpcError(
          Code.ResourceExhausted,
          `the connection holds more than its budget of ${limit} buffered bytes`,
        ),
        () => this.bytes > limit,
      );
    }
    if (budget.processLimit > 0 && budget.total > budget.processLimit) budget.overflow();
  }

  /** Releases what `holder` holds. */
  release(holder: BudgetHolder): void {
    if (holder.budgetBytes !== 0) this.set(holder, 0);
  }

  /** Stops new work on this connection and ends its worst holders while `over()`. @internal */
  overflow(error: RpcError, over: () => boolean): void {
    if (!this.refusing) {
      this.refusing = true;
      this.#resumeAt = Math.floor(this.bytes / 2);
    }
    while (over()) {
      const worst = this.#worst();
      if (worst === undefined) return;
      this.budget.ended++;
      this.set(worst, 0);
      worst.endOverBudget(error);
    }
  }

  /** The connection closed: whatever its calls still hold is released (they end through their close events). */
  closed(): void {
    for (const holder of [...this.#holders]) this.set(holder, 0);
  }

  #worst(): BudgetHolder | undefined {
    let worst: BudgetHolder | undefined;
    for (const holder of this.#holders)
      if (worst === undefined || holder.budgetBytes > worst.budgetBytes) worst = holder;
    return worst;
  }
}

/**
 * The budgets of one port: a total over every connection and one per connection (0 turns either off).
 * The port listener opens an account for each connection it accepts; calls find it through
 * {@link accountOf} (none on a server the application runs itself: nothing is counted there).
 * @internal
 */
export class ByteBudget {
  readonly connectionLimit: number;
  readonly processLimit: number;
  /** Bytes held on behalf of peers now, over every connection. */
  total = 0;
  /** Calls ended for going over a budget, and HTTP/2 streams refused, since the port opened. */
  ended = 0;
  refused = 0;
  /** Accounts holding any bytes. @internal */
  readonly holding = new Set<ConnectionAccount>();

  constructor(connectionLimit: number, processLimit: number) {
    this.connectionLimit = connectionLimit;
    this.processLimit = processLimit;
  }

  /** Opens the account of an HTTP/2 session or an HTTP/1.1 socket. */
  open(connection: http2.ServerHttp2Session | net.Socket): void {
    const account = new ConnectionAccount(this);
    (connection as Accounted)[kAccount] = account;
    connection.once("close", () => account.closed());
  }

  /** The total went over its budget: the connection holding most is treated as if it had gone over its own. */
  overflow(): void {
    let worst: ConnectionAccount | undefined;
    for (const account of this.holding)
      if (worst === undefined || account.bytes > worst.bytes) worst = account;
    if (worst === undefined) return;
    const limit = this.processLimit;
    worst.overflow(
      new RpcError(
        Code.ResourceExhausted,
        `the server holds more than its budget of ${limit} buffered bytes`,
      ),
      () => this.total > limit && worst.bytes > 0,
    );
  }

  /**
   * Wraps an HTTP/2 `stream` listener: a stream on a connection that went over a budget is refused with
   * RST_STREAM(REFUSED_STREAM) before any handler sees it (clients retry such a stream elsewhere).
   */
  guardStream(onStream: StreamListener): StreamListener {
    // Four named parameters, not a rest array: no allocation per stream.
    return (stream, headers, flags, rawHeaders) => {
      if ((stream.session as Accounted | undefined)?.[kAccount]?.refusing === true) {
        this.refused++;
        // A reset with an error code is also emitted as the stream's 'error'.
        stream.on("error", ignoreError);
        stream.close(NGHTTP2_REFUSED_STREAM);
        return;
      }
      onStream(stream, headers, flags, rawHeaders);
    };
  }
}

/**
 * The budgets of a port from its options, or undefined when both are off (nothing is then counted).
 * @internal
 */
export function createByteBudget(connectionLimit: number, processLimit: number): ByteBudget | undefined {
  for (const [name, value] of [
    ["maxConnectionBufferedBytes", connectionLimit],
    ["maxProcessBufferedBytes", processLimit],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new ConfigError(`connections.${name} must be a non-negative integer (0 = no budget)`);
  }
  if (connectionLimit === 0 && processLimit === 0) return undefined;
  return new ByteBudget(connectionLimit, processLimit);
}

/** The account of the connection an exchange arrived on, if its port keeps budgets. */
export function accountOf(connection: object | undefined): ConnectionAccount | undefined {
  return (connection as Accounted | undefined)?.[kAccount];
}
