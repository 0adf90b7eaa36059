import { checkInteger, checkNumber } from '../validate';

/** Options of {@link warmupCosine}. */
export interface WarmupCosineOptions {
  /** Peak learning rate, reached at the end of the warmup. */
  baseLr: number;
  /** Steps of linear warmup from 0. Default 0. */
  warmupSteps?: number;
  /** Total steps; the cosine would reach `minLr` at step maxSteps, just after the last one, so no step is wasted at the floor. */
  maxSteps: number;
  /** Floor of the cosine. Default 0. */
  minLr?: number;
}

/**
 * Linear warmup then cosine decay: step s (0-based) gets baseLr * (s + 1) / warmup during
 * warmup, then minLr + (baseLr - minLr) * (1 + cos(pi * t)) / 2 with t going 0 -> 1 over the
 * remaining steps (t = 1 one step after the last, so the last step still learns).
 */
export function warmupCosine(options: WarmupCosineOptions): (step: number) => number {
  const baseLr = checkNumber(options.baseLr, 'baseLr', 0);
  const maxSteps = checkInteger(options.maxSteps, 'maxSteps', 1);
  const warmupSteps = checkInteger(options.warmupSteps ?? 0, 'warmupSteps', 0, maxSteps);
  const minLr = checkNumber(options.minLr ?? 0, 'minLr', 0, baseLr);
  return (step: number) => {
    if (step < warmupSteps) return (baseLr * (step + 1)) / warmupSteps;
    const decaySteps = Math.max(1, maxSteps - warmupSteps);
    const t = Math.min(1, (step - warmupSteps) / decaySteps);
    return minLr + ((baseLr - minLr) * (1 + Math.cos(Math.PI * t))) / 2;
  };
}
