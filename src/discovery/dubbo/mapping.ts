// Dubbo's interface → application mapping: a persistent `/{root}/mapping/{interface}` whose data is a
// comma list of application names (apache/dubbo-go metadata/report/zookeeper/report.go
// RegisterServiceAppMapping, metadata/report/mapping.go). Writer and reader side by side.
import { type RegistryClient, zooKeeperCode } from "../registry-client.ts";

/** The mapping node of an interface. */
export function mappingPath(root: string, service: string): string {
  return `/${root}/mapping/${service}`;
}

/** The application names a mapping's data lists (empty entries skipped), in order, each once. */
export function decodeMapping(data: string): string[] {
  return [...new Set(data.split(",").filter((app) => app !== ""))];
}

/** `old` with `app` appended unless listed already; undefined when nothing changes. */
export function mergeMapping(old: string, app: string): string | undefined {
  if (old === "") return app;
  if (decodeMapping(old).includes(app)) return undefined;
  return `${old},${app}`;
}

// Other providers of the same interface write the node too: a lost compare-and-set is read again and
// merged again, a bounded number of times.
const maxAttempts = 10;

/**
 * Adds `app` to an interface's mapping with compare-and-set on the node's version, never dropping the
 * other applications listed; creates the node (and its parents) when missing.
 */
export async function registerMapping(
  client: RegistryClient,
  root: string,
  service: string,
  app: string,
): Promise<void> {
  const path = mappingPath(root, service);
  for (let attempt = 1; ; attempt++) {
    try {
      let current: { data: Buffer; stat: { version: number } } | undefined;
      try {
        current = await client.getData(path);
      } catch (error) {
        if (zooKeeperCode(error) !== "NONODE") throw error;
      }
      if (current === undefined) {
        await client.ensurePath(`/${root}/mapping`);
        await client.create(path, Buffer.from(app), "persistent");
        return;
      }
      const merged = mergeMapping(current.data.toString("utf8"), app);
      if (merged === undefined) return;
      await client.setData(path, Buffer.from(merged), current.stat.version);
      return;
    } catch (error) {
      const code = zooKeeperCode(error);
      if ((code !== "BADVERSION" && code !== "NODEEXISTS") || attempt >= maxAttempts) throw error;
    }
  }
}
