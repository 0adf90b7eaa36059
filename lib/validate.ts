import { rangeError, typeError } from './errors';

/** Small argument checks; each names the argument. Option objects are checked by schemas (lib/config). */

/** The index of the first NaN or Inf in `values`, or -1 when all are finite. */
export function firstNonFinite(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return i;
  return -1;
}

export function checkInteger(value: unknown, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number') throw typeError(name, `an integer between ${min} and ${max}`, value);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw rangeError(name, `an integer between ${min} and ${max}`, value);
  }
  return value;
}

/**
 * The largest float32. Every number that reaches a tensor (rates, weights, bounds) is used in
 * float32 arithmetic; a larger one overflows there, partway through a step.
 */
export const FLOAT32_MAX = 3.4028234663852886e38;

/** How a bound reads in a message: float32's largest is named as such. */
export function describeBound(bound: number): string {
  if (bound === FLOAT32_MAX) return '3.4e38 (the largest float32)';
  if (bound === -FLOAT32_MAX) return '-3.4e38 (the lowest float32)';
  return String(bound);
}

export function checkNumber(value: unknown, name: string, min: number, max = FLOAT32_MAX): number {
  const expected = `a number between ${describeBound(min)} and ${describeBound(max)}`;
  if (typeof value !== 'number') throw typeError(name, expected, value);
  if (!Number.isFinite(value) || value < min || value > max) throw rangeError(name, expected, value);
  return value;
}

/**
 * Refuses an option name outside `allowed` (a misspelt option would otherwise be ignored,
 * its default used), with the closest allowed name as a hint. `call` names the function.
 */
export function refuseUnknownOptions(options: object, allowed: readonly string[], call: string): void {
  for (const key of Object.keys(options)) {
    if (allowed.includes(key)) continue;
    const suggestion = closest(key, allowed);
    throw new TypeError(
      `Unknown option "${key}" for ${call}${suggestion ? `; did you mean "${suggestion}"?` : '.'} Allowed: ${allowed.join(', ')}`,
    );
  }
}

/** The allowed name closest to `key`, for "did you mean" hints; undefined when none is close. */
export function closest(key: string, allowed: readonly string[]): string | undefined {
  // A shortened name ("elastic") most likely means the first option it starts.
  const extended =
    key.length >= 3 && allowed.find((candidate) => candidate.toLowerCase().startsWith(key.toLowerCase()));
  if (extended) return extended;
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
