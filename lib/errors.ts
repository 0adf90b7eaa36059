/** Argument errors in one voice: the name, what was expected, what was received. */

/** Describes a received value for an error message, e.g. `-1 of type number`. */
export function describeReceived(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  if (typeof value === 'object') return `an object of type ${value.constructor?.name ?? 'Object'}`;
  if (typeof value === 'string') return `${JSON.stringify(value)} of type string`;
  return `${String(value)} of type ${typeof value}`;
}

/** `Expected <expected> for <name> but received <value>` as a TypeError. */
export function typeError(name: string, expected: string, value: unknown): TypeError {
  return new TypeError(`Expected ${expected} for ${name} but received ${describeReceived(value)}`);
}

/** `Expected <expected> for <name> but received <value>` as a RangeError. */
export function rangeError(name: string, expected: string, value: unknown): RangeError {
  return new RangeError(`Expected ${expected} for ${name} but received ${describeReceived(value)}`);
}
