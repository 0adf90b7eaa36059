/**
 * A deep copy of plain data (objects, arrays, primitives) frozen at every level. A model's
 * options describe the network it built: changing them afterwards would make `save` write
 * a file of another network, so they are read-only for real, not only in the types.
 */
export function frozenCopy<T>(value: T): T {
  if (Array.isArray(value)) return Object.freeze(value.map(frozenCopy)) as T;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).map(([key, child]) => [key, frozenCopy(child)]);
    return Object.freeze(Object.fromEntries(entries)) as T;
  }
  return value;
}
