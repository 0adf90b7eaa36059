import fs from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';

/** Reads a JSON or YAML configuration file (YAML is a superset of JSON) into a plain object. */
export async function readConfigFile(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    throw new Error(`Cannot read the config file ${file}: ${(error as Error).message}`, { cause: error });
  }
  const json = path.extname(file).toLowerCase() === '.json';
  let value: unknown;
  try {
    value = json ? JSON.parse(text) : YAML.parse(text, { prettyErrors: true });
  } catch (error) {
    throw new Error(`The config file ${file} is not valid ${json ? 'JSON' : 'YAML'}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  // JSON.parse keeps the last of a repeated key; which one was meant is unknown, as YAML says.
  const repeated = json ? YAML.parseDocument(text).errors.find((error) => error.code === 'DUPLICATE_KEY') : undefined;
  if (repeated) {
    throw new Error(`The config file ${file} sets an option twice (remove one of them): ${repeated.message}`);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(
      `The config file ${file} must hold a mapping of options (e.g. "steps: 1000"), not ${Array.isArray(value) ? 'a list' : typeof value}`,
    );
  }
  return value as Record<string, unknown>;
}

/**
 * Sets `dotted.path` to `value` in a copy of `config`, creating objects on the way
 * (`training.views.degree`). Validation happens afterwards, on the whole configuration.
 */
export function setOption(config: Record<string, unknown>, dotted: string, value: unknown): Record<string, unknown> {
  const keys = dotted.split('.');
  if (keys.some((key) => key === '' || key === '__proto__' || key === 'constructor' || key === 'prototype')) {
    throw new Error(`Invalid option path "${dotted}": expected names separated by dots, e.g. training.views.degree`);
  }
  const copy = structuredClone(config);
  let node: Record<string, unknown> = copy;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (next === undefined) node[key] = {};
    else if (typeof next !== 'object' || next === null || Array.isArray(next)) {
      throw new Error(`Cannot set "${dotted}": "${key}" is ${JSON.stringify(next)}, not a group of options`);
    }
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]!] = value;
  return copy;
}

/** Parses a command-line value as YAML, so `0.3`, `true`, `[64, 64]` and `adamw` mean what they say. */
export function parseOptionValue(raw: string): unknown {
  try {
    return YAML.parse(raw);
  } catch {
    return raw;
  }
}
