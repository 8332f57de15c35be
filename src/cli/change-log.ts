// The lines `serve` logs for each health status change: text for people, or one JSON object per line for
// a log pipeline (`-log json`), both from the registry's change events.
import { servingStatusName } from "../codec/health-types.ts";
import type { RegistrationEvent } from "../discovery/registration.ts";
import type { HealthChangeEvent } from "../health/registry.ts";

/**
 * `{time, service, status, previous, reason, source}` and a newline: `time` in ISO 8601, statuses by
 * name, `previous` null when the service is new, `status` null when it was cleared; `source` is the
 * layer behind the change (a check's name, `drain`, `override`, `shutdown`, …).
 * @internal
 */
export function jsonChangeLine(event: HealthChangeEvent): string {
  return `${JSON.stringify({
    time: new Date(event.time).toISOString(),
    service: event.service,
    status: event.status === undefined ? null : servingStatusName(event.status),
    previous: event.previous === undefined ? null : servingStatusName(event.previous),
    reason: event.reason,
    source: event.source,
  })}\n`;
}

/**
 * `"db" SERVING -> NOT_SERVING: db: connect …` after `prefix`; `new` and `cleared` at the ends; a new reason
 * under the same status is `"db" still NOT_SERVING: db: timed out …`.
 * @internal
 */
export function textChangeLine(prefix: string, event: HealthChangeEvent): string {
  if (event.previous !== undefined && event.previous === event.status)
    return `${prefix}${JSON.stringify(event.service)} still ${servingStatusName(event.status)}: ${event.reason}\n`;
  const from = event.previous === undefined ? "new" : servingStatusName(event.previous);
  const to = event.status === undefined ? "cleared" : servingStatusName(event.status);
  return `${prefix}${JSON.stringify(event.service)} ${from} -> ${to}: ${event.reason}\n`;
}

/**
 * A registration event as a `-log json` line: `{time, registry: kind, path?, message?}` (kinds:
 * registered, unregistered, session-connected, session-lost, session-expired, session-reestablished,
 * error). @internal
 */
export function jsonRegistrationLine(event: RegistrationEvent): string {
  return `${JSON.stringify({
    time: new Date(event.time).toISOString(),
    registry: event.kind,
    ...(event.path === undefined ? {} : { path: event.path }),
    ...(event.message === undefined ? {} : { message: event.message }),
  })}\n`;
}

/** `registry registered /dubbo/…` after `prefix`. @internal */
export function textRegistrationLine(prefix: string, event: RegistrationEvent): string {
  const what = event.path ?? event.message;
  return `${prefix}registry ${event.kind}${what === undefined ? "" : ` ${what}`}\n`;
}
