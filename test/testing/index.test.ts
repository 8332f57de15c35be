import { readFileSync } from "node:fs";
import t from "tap";
import type { Clock } from "../../src/index.ts";
import * as testing from "../../src/testing/index.ts";

t.test("the testing entry point holds the test helpers", async (t) => {
  t.same(Object.keys(testing).sort(), ["FakeClock"]);
  const clock: Clock = new testing.FakeClock(5);
  const fired: number[] = [];
  clock.setTimeout(() => fired.push(clock.now()), 10);
  await (clock as testing.FakeClock).advance(10);
  t.same(fired, [15], "a FakeClock from the entry point drives timers");
});

t.test('package.json exports it as "triple-health/testing", like "./wire"', async (t) => {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
  t.same(pkg.exports["./testing"], {
    import: { types: "./dist/testing/index.d.ts", default: "./dist/testing/index.js" },
    require: { types: "./dist/testing/index.d.cts", default: "./dist/testing/index.js" },
  });
});
