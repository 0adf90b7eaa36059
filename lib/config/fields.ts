import { z } from 'zod';
import { closest, describeBound, FLOAT32_MAX } from '../validate';

/**
 * Schema builders for option objects. Each sets its error to the phrase of what is allowed
 * ("an integer between 1 and 8"); formatIssues turns that into "Expected <phrase> for
 * <field> but received <value>", so every option error reads the same way.
 */

function bounds(kind: string, min: number, max: number): string {
  if (min === -Infinity && max === Infinity) return kind;
  if (min === -FLOAT32_MAX && max === FLOAT32_MAX) return `${kind} between -3.4e38 and 3.4e38 (float32's range)`;
  if (max === Infinity) return `${kind} >= ${min}`;
  if (min === -Infinity) return `${kind} <= ${max}`;
  return `${kind} between ${describeBound(min)} and ${describeBound(max)}`;
}

export function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  const expected = bounds('an integer', min, max === Number.MAX_SAFE_INTEGER ? Infinity : max);
  return z
    .number({ error: expected })
    .int({ error: expected })
    .min(min, { error: expected })
    .max(max, { error: expected });
}

/** A finite number within [min, max]; by default within float32's range (see FLOAT32_MAX). */
export function number(min = -FLOAT32_MAX, max = FLOAT32_MAX) {
  const expected = bounds('a number', min, max);
  let schema = z.number({ error: expected });
  if (min !== -Infinity) schema = schema.min(min, { error: expected });
  if (max !== Infinity) schema = schema.max(max, { error: expected });
  return schema;
}

/** A number above 0 and at most float32's largest (see FLOAT32_MAX). */
export function positive(what = `a positive number up to ${describeBound(FLOAT32_MAX)}`) {
  return z.number({ error: what }).positive({ error: what }).max(FLOAT32_MAX, { error: what });
}

/** An integer that must also be a multiple of `divisor`, with the reason in the message. */
export function multipleOf(divisor: number, min: number, why = '', max = Number.MAX_SAFE_INTEGER) {
  return integer(min, max).multipleOf(divisor, { error: `a multiple of ${divisor}${why}` });
}

export function boolean() {
  return z.boolean({ error: 'true or false' });
}

export function choice<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: `one of ${values.map((v) => JSON.stringify(v)).join(', ')}` });
}

export function text(what = 'a non-empty string') {
  return z.string({ error: what }).min(1, { error: what });
}

/** Where a model lives: 'cpu', 'cuda' (the current GPU), 'cuda:N' or 'auto' (CUDA when present). */
export function device() {
  const what = "'cpu', 'cuda', 'cuda:N' or 'auto'";
  return z.string({ error: what }).regex(/^(cpu|auto|cuda(:\d+)?)$/, { error: what });
}

/** A fixed-length list, e.g. five channel widths. */
export function tuple5<T extends z.ZodType>(item: T, what: string) {
  return z.tuple([item, item, item, item, item], { error: what });
}

/** A list with a length between `min` and `max`. */
export function list<T extends z.ZodType>(item: T, what: string, min = 0, max = Infinity) {
  let schema = z.array(item, { error: what }).min(min, { error: what });
  if (max !== Infinity) schema = schema.max(max, { error: what });
  return schema;
}

/**
 * An object that rejects unknown keys. The error of an unknown key suggests the closest
 * known one and lists them all (formatIssues adds which key and where).
 */
export function section<T extends z.ZodRawShape>(shape: T) {
  const allowed = Object.keys(shape);
  return z.strictObject(shape, {
    error: (issue) => {
      if (issue.code !== 'unrecognized_keys') return 'an object';
      const suggestion = closest(issue.keys[0] ?? '', allowed);
      return `${suggestion ? `; did you mean "${suggestion}"?` : '.'} Allowed: ${allowed.join(', ')}`;
    },
  });
}
