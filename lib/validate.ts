import { rangeError, typeError } from './errors';

/** Small argument checks shared by the option validators; each names the field. */

/** Throws for keys not in `allowed`, suggesting the closest allowed key. */
export function checkKnownKeys(value: object, allowed: readonly string[], name: string): void {
  for (const key of Object.keys(value)) {
    if (allowed.includes(key)) continue;
    const suggestion = closest(key, allowed);
    const hint = suggestion ? `; did you mean "${suggestion}"?` : '';
    throw new TypeError(`Unknown option "${key}" in ${name}${hint} Allowed: ${allowed.join(', ')}`);
  }
}

export function checkObject(value: unknown, name: string): asserts value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw typeError(name, 'an object', value);
}

export function checkInteger(value: unknown, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number') throw typeError(name, `an integer between ${min} and ${max}`, value);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw rangeError(name, `an integer between ${min} and ${max}`, value);
  }
  return value;
}

export function checkNumber(value: unknown, name: string, min: number, max = Infinity): number {
  if (typeof value !== 'number') throw typeError(name, `a number between ${min} and ${max}`, value);
  if (!Number.isFinite(value) || value < min || value > max)
    throw rangeError(name, `a number between ${min} and ${max}`, value);
  return value;
}

export function checkBoolean(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') throw typeError(name, 'a boolean', value);
  return value;
}

export function checkChoice<T extends string>(value: unknown, name: string, choices: readonly T[]): T {
  if (typeof value !== 'string' || !choices.includes(value as T)) {
    throw typeError(name, `one of ${choices.map((c) => JSON.stringify(c)).join(', ')}`, value);
  }
  return value as T;
}

export function checkIntegerArray(value: unknown, name: string, length: number | undefined, min: number): number[] {
  if (!Array.isArray(value) || (length !== undefined && value.length !== length)) {
    throw typeError(name, length === undefined ? 'an array of integers' : `an array of ${length} integers`, value);
  }
  return value.map((item, i) => checkInteger(item, `${name}[${i}]`, min));
}

function closest(key: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of allowed) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}
