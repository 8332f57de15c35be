/** An opaque timer handle, as returned by {@link Clock.setTimeout}. */
export type TimerHandle = object;

/**
 * Time and timers for the check scheduler, the endpoint picker and the health follower, injectable so
 * tests drive time by hand (`FakeClock` from `triple-health/testing`) instead of sleeping.
 *
 * It sits below every layer (health/ and client/ both use it, neither owns it).
 */
export interface Clock {
  /** Milliseconds on this clock's own scale (an epoch time for {@link systemClock}). */
  now(): number;
  /** Calls `callback` once, `ms` from now. */
  setTimeout(callback: () => void, ms: number): TimerHandle;
  /** Cancels a timer that has not fired; a fired or cleared one is ignored. */
  clearTimeout(handle: TimerHandle): void;
}

/**
 * The real clock. Its timers are unref'd: health checks alone never keep a process alive.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(callback, ms) {
    const timer = setTimeout(callback, ms);
    timer.unref();
    return timer;
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};
