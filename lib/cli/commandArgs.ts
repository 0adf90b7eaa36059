/** Argument parsing shared by the file-in, file-out commands (finetune, evaluate). */

export interface CommandArgSpec {
  /** Options that take one value. */
  values: string[];
  /** Options that take one value each time and may repeat. */
  lists?: string[];
  /** Options without a value. */
  flags?: string[];
  /** Options that must be given. */
  required: string[];
  /** How many positional arguments the command takes. */
  positional: number;
  /** What the positional arguments are, for the message when their count is wrong. */
  positionalName?: string;
}

export interface CommandArgs {
  positional: string[];
  value(name: string): string | undefined;
  list(name: string): string[];
  flag(name: string): boolean;
  /** The option as an integer in [min, max]; `fallback` when absent (required otherwise). */
  integer(name: string, min: number, max: number, fallback?: number): number;
  /** The option as a positive finite number; `fallback` when absent. */
  number(name: string, fallback: number): number;
  /** A tile side (a multiple of 16, at least 16), or undefined when absent. */
  tileSide(name: string): number | undefined;
}

/** Parses `argv` by `spec`; every mistake is an Error that says what was expected. */
export function parseCommandArgs(argv: string[], usage: string, spec: CommandArgSpec): CommandArgs {
  const values = new Map<string, string>();
  const lists = new Map<string, string[]>();
  const flags = new Set<string>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (spec.flags?.includes(arg)) flags.add(arg);
    else if (spec.values.includes(arg) || spec.lists?.includes(arg)) {
      const value = argv[++i];
      if (value === undefined) throw new Error(`${arg} needs a value\n\n${usage}`);
      // "--out --freeze-encoder" forgot the value: taking the next option as it would both
      // name a file after it and drop it.
      if (spec.flags?.includes(value) || spec.values.includes(value) || spec.lists?.includes(value))
        throw new Error(`${arg} needs a value, but the next argument is the option ${value}\n\n${usage}`);
      if (spec.values.includes(arg)) values.set(arg, value);
      else lists.set(arg, [...(lists.get(arg) ?? []), value]);
    } else if (arg.startsWith('--')) throw new Error(`unknown option ${arg}\n\n${usage}`);
    else positional.push(arg);
  }
  const missing = spec.required.filter((name) => !values.has(name) && !lists.has(name));
  if (missing.length > 0 || positional.length !== spec.positional) {
    const wanted = [...(spec.positional > 0 ? [spec.positionalName ?? 'arguments'] : []), ...spec.required];
    throw new Error(`expected ${wanted.join(', ')}\n\n${usage}`);
  }
  const args: CommandArgs = {
    positional,
    value: (name) => values.get(name),
    list: (name) => lists.get(name) ?? [],
    flag: (name) => flags.has(name),
    integer(name, min, max, fallback) {
      const text = values.get(name);
      if (text === undefined && fallback !== undefined) return fallback;
      const value = Number(text);
      if (!/^\d+$/.test(text ?? '') || value < min || value > max)
        throw new Error(`Expected an integer between ${min} and ${max} for ${name} but received "${text}"`);
      return value;
    },
    number(name, fallback) {
      const text = values.get(name);
      if (text === undefined) return fallback;
      const value = Number(text);
      if (!(Number.isFinite(value) && value > 0))
        throw new Error(`Expected a positive number for ${name} but received "${text}"`);
      return value;
    },
    tileSide(name) {
      const text = values.get(name);
      if (text === undefined) return undefined;
      const value = Number(text);
      if (!(/^\d+$/.test(text) && value >= 16 && value % 16 === 0))
        throw new Error(`Expected a multiple of 16 (at least 16) for ${name} but received "${text}"`);
      return value;
    },
  };
  return args;
}
