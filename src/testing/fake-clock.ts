import type { Clock, TimerHandle } from "../clock.ts";

interface FakeTimer {
  readonly id: number;
  readonly at: number;
  readonly callback: () => void;
}

/**
 * A clock that moves only when told to, for deterministic tests of checks, timeouts and jitter.
 * {@link advance} fires due timers in time order and lets promise callbacks settle after each one.
 */
export class FakeClock implements Clock {
  #now: number;
  #nextId = 1;
  readonly #timers = new Map<number, FakeTimer>();

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const timer: FakeTimer = { id: this.#nextId++, at: this.#now + Math.max(0, ms), callback };
    this.#timers.set(timer.id, timer);
    return { id: timer.id };
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete((handle as { id: number }).id);
  }

  /** Timers not yet fired or cleared. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** Due times of the pending timers, soonest first. */
  get pendingTimes(): number[] {
    return [...this.#timers.values()].map((timer) => timer.at).sort((a, b) => a - b);
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due (including ones scheduled by the
   * callbacks themselves), each at its own time, with pending promise callbacks settled in between.
   */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    await settle();
    for (;;) {
      const due = this.#nextDue(end);
      if (due === undefined) break;
      this.#timers.delete(due.id);
      this.#now = due.at;
      due.callback();
      await settle();
    }
    this.#now = end;
  }

  #nextDue(end: number): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const timer of this.#timers.values()) {
      if (
        timer.at <= end &&
        (best === undefined || timer.at < best.at || (timer.at === best.at && timer.id < best.id))
      )
        best = timer;
    }
    return best;
  }
}

// One macrotask turn: every promise callback queued so far (and the ones they queue) has run.
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
