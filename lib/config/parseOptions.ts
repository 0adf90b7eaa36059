import type { z } from 'zod';
import { describeReceived } from '../errors';

/** Thrown for options or configuration that do not match their schema; lists every problem. */
export class ConfigError extends TypeError {
  /** One line per problem, each naming the field, what is allowed and what was received. */
  readonly problems: string[];
  /** The field of each problem (`training.views.degree`), '' where none applies. */
  readonly fields: string[];

  constructor(problems: string[], prefix = '', fields: string[] = problems.map(() => '')) {
    super(`${prefix}${problems.length === 1 ? problems[0] : `\n  ${problems.join('\n  ')}`}`);
    this.name = 'ConfigError';
    this.problems = problems;
    this.fields = fields;
  }
}

/**
 * `channels[4]`, `training.views.degree`; `root` for the top level itself. A root that is a
 * field name (no spaces, e.g. `normalize`) also prefixes the fields below it.
 */
export function fieldName(path: readonly PropertyKey[], root: string): string {
  if (path.length === 0) return root;
  const prefix = root.includes(' ') ? '' : root;
  const names = path.map((key, i) =>
    typeof key === 'number' ? `[${key}]` : `${i === 0 && !prefix ? '' : '.'}${String(key)}`,
  );
  return prefix + names.join('');
}

/** One sentence per zod issue, in the package's voice. */
export function formatIssue(issue: z.core.$ZodIssue, root: string): string {
  const field = fieldName(issue.path, root);
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((key) => `"${key}"`).join(', ');
    return `Unknown option${issue.keys.length > 1 ? 's' : ''} ${keys} in ${field}${issue.message}`;
  }
  if (issue.code === 'invalid_union') {
    // Unions (e.g. normalisation kinds) report the alternative that matched the best.
    const nested = issue.errors.map((errors) => errors.filter((e) => e.code !== 'invalid_union'));
    const best = nested.sort((a, b) => a.length - b.length)[0]?.[0];
    if (best) return formatIssue({ ...best, path: [...issue.path, ...best.path] } as z.core.$ZodIssue, root);
  }
  // Refinements and unmatched discriminators report the parent object; show the field's value.
  const parentReported =
    (issue.code === 'custom' || issue.code === 'invalid_union') &&
    typeof issue.input === 'object' &&
    issue.input !== null &&
    issue.path.length > 0 &&
    (issue.path[issue.path.length - 1] as PropertyKey) in issue.input;
  const value = parentReported
    ? (issue.input as Record<PropertyKey, unknown>)[issue.path[issue.path.length - 1] as PropertyKey]
    : issue.input;
  const received = 'input' in issue ? describeReceived(value) : 'nothing';
  return `Expected ${issue.message} for ${field} but received ${received}`;
}

/**
 * Validates `value` against `schema` and returns the parsed value (defaults filled in).
 * Throws a ConfigError (a TypeError) listing every problem; `root` names the top level in
 * messages and `prefix` says where the value came from (e.g. a config file).
 */
export function parseOptions<S extends z.ZodType>(schema: S, value: unknown, root: string, prefix = ''): z.output<S> {
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  // One value can fail two checks with one message (1e20 is neither a safe integer nor
  // within the maximum): each problem is said once.
  const problems = new Map<string, string>();
  for (const issue of result.error.issues) {
    const field = fieldName(issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0] ?? ''] : issue.path, '');
    problems.set(formatIssue(issue, root), field);
  }
  throw new ConfigError([...problems.keys()], prefix, [...problems.values()]);
}
