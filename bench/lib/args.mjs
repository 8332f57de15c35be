// Flags (`--name=value`, `--name value`, `--flag`) with environment fallbacks (`BENCH_NAME`), typed by the
// spec's default value. Unknown flags are an error, so a typo never silently runs the default load.

/**
 * @param {Record<string, {default: unknown, help: string}>} spec
 * @param {string[]} argv
 * @param {Record<string, string | undefined>} env
 */
export function parseOptions(spec, argv = process.argv.slice(2), env = process.env) {
  const options = {};
  for (const [name, { default: fallback }] of Object.entries(spec)) {
    const fromEnv = env[`BENCH_${name.toUpperCase().replaceAll("-", "_")}`];
    options[name] = fromEnv === undefined ? fallback : convert(name, fromEnv, fallback);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--")) throw new Error(`unexpected argument ${arg}`);
    const eq = arg.indexOf("=");
    let name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    let value = eq > 0 ? arg.slice(eq + 1) : undefined;
    if (name === "help") {
      options.help = true;
      continue;
    }
    let negate = false;
    if (!(name in spec) && name.startsWith("no-") && typeof spec[name.slice(3)]?.default === "boolean") {
      name = name.slice(3);
      negate = true;
    }
    if (!(name in spec)) throw new Error(`unknown flag --${name} (try --help)`);
    const fallback = spec[name].default;
    if (typeof fallback === "boolean") {
      options[name] = value === undefined ? !negate : convert(name, value, fallback);
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new Error(`--${name} needs a value`);
    }
    options[name] = convert(name, value, fallback);
  }
  return options;
}

function convert(name, text, fallback) {
  if (typeof fallback === "boolean") return text === "1" || text === "true" || text === "yes";
  if (typeof fallback === "number") {
    const value = Number(text);
    if (!Number.isFinite(value) || value < 0) throw new Error(`--${name}: not a number: ${text}`);
    return value;
  }
  if (Array.isArray(fallback))
    return text
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
  return text;
}

/** The --help text of a spec. */
export function usage(title, spec) {
  const lines = [title, "", "Flags (or BENCH_<NAME> environment variables):"];
  for (const [name, { default: fallback, help }] of Object.entries(spec)) {
    const shown = Array.isArray(fallback) ? fallback.join(",") : String(fallback);
    lines.push(`  --${name.padEnd(16)} ${help} (default: ${shown || "none"})`);
  }
  return lines.join("\n");
}
