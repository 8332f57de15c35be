// Every command's -h lists the allowed values of each of its enum flags (issue 26).
import { readdirSync } from "node:fs";
import t from "tap";
import type { Command } from "../../src/cli/command.ts";
import { flagHelp } from "../../src/cli/flags.ts";
import { captureIo } from "../fixtures/run-cli.ts";

const dir = new URL("../../src/cli/commands/", import.meta.url);

t.test("-h shows every enum flag's values", async (t) => {
  let enums = 0;
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".ts"))) {
    const module = (await import(new URL(file, dir).href)) as {
      command: Command;
      run: (args: string[], io: ReturnType<typeof captureIo>["io"]) => Promise<number>;
    };
    const help = captureIo();
    await module.run(["-h"], help.io);
    const text = help.out + help.err;
    for (const [name, spec] of Object.entries(module.command.flags)) {
      if (spec.choices === undefined) continue;
      enums++;
      t.match(text, `-${name} ${spec.choices.join("|")}\n`, `${module.command.name} -${name}`);
    }
  }
  t.ok(enums >= 8, `${enums} enum flags seen (serve -log, proxy -policy and -health-mode among them)`);
  t.match(
    flagHelp({ x: { kind: "string", hint: "X", choices: ["a", "b"], description: "d" } }),
    "  -x a|b\n",
  );
});
