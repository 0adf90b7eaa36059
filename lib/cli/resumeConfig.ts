/**
 * What a resumed run may change. The rest defines what its steps so far were trained on
 * (data, network, views, optimiser, rate, seed): continuing with other values would leave a
 * run whose config.yaml describes settings its first steps never used.
 */
const MAY_CHANGE = [
  'steps',
  'checkpointEvery',
  'checkpointWeightsOnly',
  'keepLast',
  'prefetch',
  'maxNonFiniteSteps',
  'earlyStopping',
  'logLevel',
  'out',
  'model.device',
  'training.phaseTimings',
  'training.recompute',
  // Changes the batches only where an image fails to read, which stopped the run before.
  'data.onError',
];

/**
 * The settings that differ between a run's saved configuration and a resume's, as
 * "field: old -> new"; `mayChange` lists the fields (and field prefixes) left out.
 */
export function changedOnResume(saved: unknown, resumed: unknown, mayChange: readonly string[] = MAY_CHANGE): string[] {
  const before = flatten(saved);
  const after = flatten(resumed);
  const changes: string[] = [];
  for (const field of new Set([...before.keys(), ...after.keys()])) {
    if (mayChange.some((free) => field === free || field.startsWith(`${free}.`))) continue;
    const [old, now] = [before.get(field), after.get(field)];
    if (old !== now) changes.push(`${field}: ${old ?? '(unset)'} -> ${now ?? '(unset)'}`);
  }
  return changes;
}

/** Dotted field names to their values as JSON (arrays whole). */
function flatten(value: unknown, prefix = '', into = new Map<string, string>()): Map<string, string> {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value)) flatten(inner, prefix ? `${prefix}.${key}` : key, into);
  } else if (value !== undefined) {
    into.set(prefix, JSON.stringify(value));
  }
  return into;
}
