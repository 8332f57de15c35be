// A small flag parser with Go's `flag` conventions (what grpc_health_probe users type): `-name value`,
// `-name=value`, `--name value`, `--name=value`, booleans as `-tls` or `-tls=false`, `--` ends flags.

/** How a flag's text is read. @internal */
export type FlagKind = "string" | "bool" | "duration" | "list" | "int";

/** One flag a command accepts, with its help text. @internal */
export interface FlagSpec {
  readonly kind: FlagKind;
  readonly description: string;
  /** Other spellings (`v` for `verbose`). */
  readonly aliases?: readonly string[];
  /** Placeholder in the help text. */
  readonly hint?: string;
  /** Allowed values of a string flag. */
  readonly choices?: readonly string[];
}

/** A command's flags by name. @internal */
export type FlagSpecs = Readonly<Record<string, FlagSpec>>;
/** A parsed flag: text, boolean, number (`int`; ms for `duration`) or the values of a `list`. @internal */
export type FlagValue = string | boolean | number | string[];

/** What {@link parseFlags} found. @internal */
export interface ParsedFlags {
  /** Only flags that were given; durations in ms. */
  readonly values: Readonly<Record<string, FlagValue>>;
  readonly positionals: readonly string[];
  /** `-h`, `-help` or `--help` was given. */
  readonly help: boolean;
  /** `-version` or `--version` was given (grpc_health_probe's flag). */
  readonly version: boolean;
}

/** A usage error: the command prints it and exits 1. @internal */
export class FlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FlagError";
  }
}

/** Reads `args` against `specs` with Go's `flag` conventions; throws FlagError on a usage error. @internal */
export function parseFlags(args: readonly string[], specs: FlagSpecs): ParsedFlags {
  const byName = new Map<string, [string, FlagSpec]>();
  for (const [name, spec] of Object.entries(specs)) {
    byName.set(name, [name, spec]);
    for (const alias of spec.aliases ?? []) byName.set(alias, [name, spec]);
  }
  const values: Record<string, FlagValue> = {};
  const positionals: string[] = [];
  let help = false;
  let version = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    const body = arg.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const key = eq < 0 ? body : body.slice(0, eq);
    let text = eq < 0 ? undefined : body.slice(eq + 1);
    if (key === "h" || key === "help") {
      help = true;
      continue;
    }
    // A command with a -version flag of its own (a Dubbo service version) takes it as that flag.
    if (key === "version" && !byName.has("version")) {
      version = true;
      continue;
    }
    const found = byName.get(key);
    if (found === undefined) throw new FlagError(`flag provided but not defined: -${key}`);
    const [name, spec] = found;
    if (spec.kind === "bool") {
      if (text === undefined) values[name] = true;
      else if (/^(true|1|t)$/i.test(text)) values[name] = true;
      else if (/^(false|0|f)$/i.test(text)) values[name] = false;
      else throw new FlagError(`invalid boolean value ${JSON.stringify(text)} for -${key}`);
      continue;
    }
    if (text === undefined) {
      if (i + 1 >= args.length) throw new FlagError(`flag needs an argument: -${key}`);
      text = args[++i]!;
    }
    values[name] = convert(name, spec, text, values[name]);
  }
  return { values, positionals, help, version };
}

function convert(name: string, spec: FlagSpec, text: string, previous: FlagValue | undefined): FlagValue {
  switch (spec.kind) {
    case "duration":
      return parseDuration(text, name);
    case "int": {
      if (!/^\d+$/.test(text))
        throw new FlagError(`invalid value ${JSON.stringify(text)} for -${name}: want a whole number`);
      return Number(text);
    }
    case "list":
      return [...((previous as string[] | undefined) ?? []), text];
    default:
      if (spec.choices !== undefined && !spec.choices.includes(text)) {
        throw new FlagError(
          `invalid value ${JSON.stringify(text)} for -${name}: want one of ${spec.choices.join(", ")}`,
        );
      }
      return text;
  }
}

const unitMs: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Go's `time.ParseDuration` syntax (`250ms`, `1s`, `1m30s`, `1.5s`), in milliseconds. @internal */
export function parseDuration(text: string, name = "duration"): number {
  if (text === "0") return 0;
  const pattern = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let at = 0;
  while (at < text.length) {
    pattern.lastIndex = at;
    const match = pattern.exec(text);
    if (match === null) break;
    total += Number(match[1]) * unitMs[match[2]!]!;
    at = pattern.lastIndex;
  }
  if (at === 0 || at !== text.length) {
    throw new FlagError(
      `invalid value ${JSON.stringify(text)} for -${name}: want a duration such as 250ms, 1s or 1m30s`,
    );
  }
  return total;
}

/** Go's way of printing a duration: `250ms`, `1s`, `1.5s`. @internal */
export function formatDuration(ms: number): string {
  if (ms >= 1000) return `${Number((ms / 1000).toFixed(3))}s`;
  return `${Number(ms.toFixed(3))}ms`;
}

/** The flags part of a command's `-h` text. @internal */
export function flagHelp(specs: FlagSpecs): string {
  const lines: string[] = [];
  for (const [name, spec] of Object.entries(specs)) {
    const names = [name, ...(spec.aliases ?? [])].map((n) => `-${n}`).join(", ");
    // An enum flag shows its allowed values, whatever hint it was given.
    const values = spec.choices?.join("|");
    const hint = spec.kind === "bool" ? "" : ` ${values ?? spec.hint ?? spec.kind}`;
    lines.push(`  ${names}${hint}\n      ${spec.description}`);
  }
  return lines.join("\n") + "\n";
}
