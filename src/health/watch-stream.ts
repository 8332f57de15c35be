import type { HealthCheckResponse, ServingStatus } from "../codec/health-types.ts";
import type { HeldStream, HoldableStreamCall, StreamHolder } from "../server/service-types.ts";
import type { HealthRegistry, StatusListener } from "./registry.ts";
import type { WatchSlots } from "./watch-slots.ts";

/**
 * What every Watch stream of one Health service shares: the registry, the slots, the replies, and the
 * turns of the event loop. A stream writes the first change of a turn at once (a flip reaches every watcher
 * in one synchronous pass) and the last of any further changes in that turn at the start of the next: a
 * burst of changes (a flapping check, a script setting statuses in a loop) costs a watcher two messages
 * per turn, not one per change, while the transport would take them all. One `setImmediate` per turn in
 * which anything was written, not one per stream.
 * @internal
 */
export class WatchHub {
  readonly registry: HealthRegistry;
  readonly slots: WatchSlots;
  readonly reply: (status: ServingStatus) => HealthCheckResponse;
  /** Advances once per turn of the event loop in which a stream wrote. */
  turn = 0;
  #scheduled = false;
  // Streams holding a change for the next turn.
  #waiting = new Set<WatchStream>();

  constructor(
    registry: HealthRegistry,
    slots: WatchSlots,
    reply: (status: ServingStatus) => HealthCheckResponse,
  ) {
    this.registry = registry;
    this.slots = slots;
    this.reply = reply;
  }

  /** A stream wrote in this turn: the next one must come. */
  wrote(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(WatchHub.#nextTurn, this);
  }

  /** `stream` holds a change for the next turn. */
  later(stream: WatchStream): void {
    this.#waiting.add(stream);
    this.wrote();
  }

  static #nextTurn(hub: WatchHub): void {
    hub.#scheduled = false;
    hub.turn++;
    const waiting = hub.#waiting;
    if (waiting.size === 0) return;
    hub.#waiting = new Set();
    for (const stream of waiting) stream.flush();
  }
}

// #state bits.
const blocked = 1;
const ended = 2;

/**
 * One Watch call: the registry's listener and the server stream's holder in one object, plain method
 * calls, no closure, promise, signal or iterator, because a server may hold 100,000 of these for hours
 * (issue 16): this object and the engine's held call (HeldCall) are what a watcher adds to its exchange
 * and HTTP/2 stream.
 *
 * Latest-value coalescing: while the transport pushes back, only the newest status is kept, and written
 * once it drains unless it is the one the client already has. A client that does not read costs a
 * constant amount however often the status flips.
 * @internal
 */
export class WatchStream implements StatusListener, StreamHolder {
  readonly #hub: WatchHub;
  // What the call hands over when held: the call itself is not kept (nor is the engine's call behind it).
  #stream: HeldStream<HealthCheckResponse> | undefined = undefined;
  readonly #service: string;
  // Its slot: the connection and the client address share it is charged to.
  readonly #connection: object | undefined;
  readonly #address: string;
  #written: ServingStatus | undefined = undefined;
  // The newest status not yet written, while the transport pushes back.
  #pending: ServingStatus | undefined = undefined;
  #state = 0;
  // The hub's turn of this stream's last write (-1: none yet).
  #turn = -1;

  /**
   * Opens the Watch of `service` on `call`: takes a watcher slot (RESOURCE_EXHAUSTED when its connection or
   * address has none left), holds the call's stream open and subscribes; the call's end unsubscribes and
   * frees the slot.
   */
  static open(hub: WatchHub, call: HoldableStreamCall<HealthCheckResponse>, service: string): void {
    const stream = new WatchStream(hub, call.connection, call.remoteAddress, service);
    // Held first: whatever happens next (a refused subscription too), the call's end frees the slot.
    stream.#stream = call.hold(stream);
    hub.registry.subscribe(service, stream);
  }

  private constructor(
    hub: WatchHub,
    connection: object | undefined,
    remoteAddress: string | undefined,
    service: string,
  ) {
    this.#hub = hub;
    this.#service = service;
    this.#connection = connection;
    this.#address = hub.slots.acquire(connection, remoteAddress);
  }

  onStatus(status: ServingStatus): void {
    const state = this.#state;
    if (state & ended) return;
    if (state & blocked) {
      this.#pending = status;
    } else if (this.#turn === this.#hub.turn) {
      // Written already in this turn: the latest change goes out at the start of the next.
      if (this.#pending === undefined) this.#hub.later(this);
      this.#pending = status;
    } else {
      this.#write(status);
    }
  }

  onWritable(): void {
    this.#state &= ~blocked;
    this.flush();
  }

  /** Writes the change held back (by push-back or by the turn), if any. */
  flush(): void {
    const pending = this.#pending;
    if (pending === undefined || this.#state !== 0) return;
    this.#pending = undefined;
    this.#write(pending);
  }

  onCallEnd(): void {
    if (this.#state & ended) return;
    this.#state |= ended;
    this.#hub.registry.unsubscribe(this.#service, this);
    this.#hub.slots.release(this.#connection, this.#address);
  }

  #write(status: ServingStatus): void {
    if (status === this.#written) return;
    this.#written = status;
    const hub = this.#hub;
    this.#turn = hub.turn;
    hub.wrote();
    if (!this.#stream!.write(hub.reply(status))) this.#state |= blocked;
  }
}
