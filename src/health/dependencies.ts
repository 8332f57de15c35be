import { ServingStatus, servingStatusName } from "../codec/health-types.ts";
import { ConfigError } from "../wire/config-error.ts";
import type { HealthChangeEvent, HealthRegistry } from "./registry.ts";

// Edges per registry (service → what it depends on), to refuse a cycle: in a cycle, each service would
// hold the other down for ever once one failed.
const graphs = new WeakMap<HealthRegistry, Map<string, Map<string, number>>>();

/**
 * Makes `service` NOT_SERVING while any of `dependencies` is not SERVING (NOT_SERVING, UNKNOWN, or not
 * registered at all), following the registry's own change events, so chains (`a` → `b` → `c`) settle
 * within the call that changed `c`. Registers `service` if needed. Returns the function that removes
 * the dependency.
 *
 * Each dependency is its own failing source, `dependency:<name>`, with a reason naming it.
 *
 * @throws TypeError when the dependency would close a cycle (including `service` on itself).
 */
export function addDependency(
  registry: HealthRegistry,
  service: string,
  dependencies: string | readonly string[],
): () => void {
  const targets = [...new Set(typeof dependencies === "string" ? [dependencies] : dependencies)];
  let graph = graphs.get(registry);
  if (graph === undefined) {
    graph = new Map();
    graphs.set(registry, graph);
  }
  for (const target of targets) {
    if (reaches(graph, target, service))
      throw new ConfigError(`'${service}' depending on '${target}' would close a dependency cycle`);
  }
  const edges = graph.get(service) ?? new Map<string, number>();
  graph.set(service, edges);
  for (const target of targets) edges.set(target, (edges.get(target) ?? 0) + 1);

  const watched = new Set(targets);
  const evaluate = (target: string, reasonTail?: string) => {
    const status = registry.get(target);
    const source = `dependency:${target}`;
    if (status === ServingStatus.Serving)
      registry.markPassing(service, source, `dependency '${target}' is SERVING${reasonTail ?? ""}`);
    else {
      const what = status === undefined ? "not registered" : servingStatusName(status);
      registry.markFailing(service, source, `dependency '${target}' is ${what}${reasonTail ?? ""}`);
    }
  };
  const listener = (event: HealthChangeEvent) => {
    if (watched.has(event.service)) evaluate(event.service, ` (${event.reason})`);
  };
  const unsubscribe = registry.onChange(listener);
  for (const target of targets) evaluate(target);

  let removed = false;
  return () => {
    if (removed) return;
    removed = true;
    unsubscribe();
    for (const target of targets) {
      const count = (edges.get(target) ?? 1) - 1;
      // Another addDependency() of the same pair still holds the shared source.
      if (count > 0) edges.set(target, count);
      else {
        edges.delete(target);
        if (registry.has(service))
          registry.markPassing(service, `dependency:${target}`, "dependency removed");
      }
    }
  };
}

function reaches(graph: Map<string, Map<string, number>>, from: string, to: string): boolean {
  const seen = new Set<string>();
  const stack = [from];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    if (node === to) return true;
    if (seen.has(node)) continue;
    seen.add(node);
    for (const next of graph.get(node)?.keys() ?? []) stack.push(next);
  }
  return false;
}
