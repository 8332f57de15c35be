import type { HealthCheckResponse, ServingStatus } from "../codec/health-types.ts";
import type { HoldableStreamCall, StreamHolder } from "../server/service-types.ts";
import type { HealthRegistry, StatusListener } from "./registry.ts";
import type { WatchSlots } from "./watch-slots.ts";

/** What every Watch stream of one Health service shares. @internal */
export interface WatchHub {
  readonly registry: HealthRegistry;
  readonly slots: WatchSlots;
  readonly reply: (status: ServingStatus) => HealthCheckResponse;
}

// #state bits.
const blocked = 1;
const ended = 2;

/**
 * One Watch call: the registry's listener and the server stream's holder in one object, plain method
 * calls, no closure, promise, signal or iterator, because a server may hold 100,000 of these for hours
 * (issue 16): this object is all a watcher adds to its call and HTTP/2 stream.
 *
 * Latest-value coalescing: while the transport pushes back, only the newest status is kept, and written
 * once it drains unless it is the one the client already has. A client that does not read costs a
 * constant amount however often the status flips.
 * @internal
 */
export class WatchStream implements StatusListener, StreamHolder {
  readonly #hub: WatchHub;
  readonly #call: HoldableStreamCall<HealthCheckResponse>;
  readonly #service: string;
  // Its slot: the connection and the client address share it is charged to.
  readonly #connection: object | undefined;
  readonly #address: string;
  #written: ServingStatus | undefined = undefined;
  // The newest status not yet written, while the transport pushes back.
  #pending: ServingStatus | undefined = undefined;
  #state = 0;

  /** Takes a watcher slot (RESOURCE_EXHAUSTED when its connection or address has none left). */
  constructor(hub: WatchHub, call: HoldableStreamCall<HealthCheckResponse>, service: string) {
    this.#hub = hub;
    this.#call = call;
    this.#service = service;
    this.#connection = call.connection;
    this.#address = hub.slots.acquire(this.#connection, call.remoteAddress);
  }

  /** Holds the call's stream open and subscribes; the call's end unsubscribes and frees the slot. */
  start(): void {
    // Held first: whatever happens next (a refused subscription too), the call's end frees the slot.
    this.#call.hold(this);
    this.#hub.registry.subscribe(this.#service, this);
  }

  onStatus(status: ServingStatus): void {
    const state = this.#state;
    if (state & ended) return;
    if (state & blocked) this.#pending = status;
    else this.#write(status);
  }

  onWritable(): void {
    this.#state &= ~blocked;
    const pending = this.#pending;
    this.#pending = undefined;
    if (pending !== undefined) this.#write(pending);
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
    if (!this.#call.write(this.#hub.reply(status))) this.#state |= blocked;
  }
}
