/**
 * triple-health/testing: helpers for testing code built on triple-health, kept out of the main entry
 * point so production bundles and the public API do not carry them.
 *
 * ```ts
 * import { FakeClock } from "triple-health/testing";
 * const clock = new FakeClock();
 * const checks = new HealthCheckRunner(registry, { clock });
 * await clock.advance(10_000); // one interval, no sleeping
 * ```
 */
export { FakeClock } from "./fake-clock.ts";
