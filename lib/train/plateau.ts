import type { EarlyStoppingOptions } from './Trainer';
import type { TrainableMetrics, TrainingScore } from './trainable';

/**
 * Early stopping's progress as a checkpoint keeps it (meta.json), so that a resumed run
 * counts its patience on from where the interrupted one was: the settings it was counted
 * under, the best check, the checks since, and the sums of the check under way.
 */
export interface PlateauState {
  monitor: string;
  mode: 'min' | 'max';
  every: number;
  minDelta: number;
  /** The best check's mean; null before the first check (JSON has no NaN). */
  best: number | null;
  bestStep: number;
  worseChecks: number;
  sum: number;
  weight: number;
  count: number;
}

/** Means of the monitored metric over windows of steps, and how long since the best one. */
export class Plateau<Metrics> {
  readonly #options: EarlyStoppingOptions;
  readonly #score: TrainingScore<Metrics>;
  readonly #every: number;
  #sum = 0;
  #weight = 0;
  #count = 0;
  #best = NaN;
  #bestStep = 0;
  #worseChecks = 0;
  #lastMean = NaN;

  constructor(options: EarlyStoppingOptions, score: TrainingScore<Metrics>, checkpointEvery: number) {
    this.#options = options;
    this.#score = score;
    this.#every = options.every ?? checkpointEvery;
  }

  /** Adds a step; true when training should stop. Skipped (non-finite) steps do not count. */
  add(metrics: Metrics & TrainableMetrics, step: number): boolean {
    const monitor = this.#monitor();
    if (!metrics.skipped) {
      // The score is a ratio of sums; another metric a plain mean (weight 1 per step).
      const [value, weight] =
        monitor === this.#score.name
          ? this.#score.terms(metrics)
          : [(metrics as unknown as Record<string, number>)[monitor]!, 1];
      this.#sum += value;
      this.#weight += weight;
      this.#count += 1;
    }
    if (step % this.#every !== 0 || this.#count === 0) return false;
    const mean = this.#sum / this.#weight;
    this.#sum = this.#weight = this.#count = 0;
    this.#lastMean = mean;
    const sign = this.#mode() === 'min' ? 1 : -1;
    if (Number.isNaN(this.#best) || sign * (this.#best - mean) > this.#minDelta()) {
      this.#best = mean;
      this.#bestStep = step;
      this.#worseChecks = 0;
      return false;
    }
    this.#worseChecks += 1;
    return this.#worseChecks >= this.#options.patience;
  }

  state(): PlateauState {
    return {
      monitor: this.#monitor(),
      mode: this.#mode(),
      every: this.#every,
      minDelta: this.#minDelta(),
      best: Number.isNaN(this.#best) ? null : this.#best,
      bestStep: this.#bestStep,
      worseChecks: this.#worseChecks,
      sum: this.#sum,
      weight: this.#weight,
      count: this.#count,
    };
  }

  /**
   * Continues from a checkpoint's state. Returns why it cannot (a state counted under other
   * settings, or not a state at all), in which case the count starts afresh.
   */
  restore(saved: unknown): string | undefined {
    if (!isPlateauState(saved)) return 'the checkpoint holds no early-stopping state';
    const now = this.state();
    const changed = (['monitor', 'mode', 'every', 'minDelta'] as const).filter((key) => saved[key] !== now[key]);
    if (changed.length > 0)
      return `early stopping's ${changed.map((key) => `${key} (${saved[key]} -> ${now[key]})`).join(', ')} changed`;
    this.#best = saved.best ?? NaN;
    this.#bestStep = saved.bestStep;
    this.#worseChecks = saved.worseChecks;
    this.#sum = saved.sum;
    this.#weight = saved.weight;
    this.#count = saved.count;
    return undefined;
  }

  describe(step: number): Record<string, number | string> {
    return { step, monitor: this.#monitor(), best: this.#best, bestStep: this.#bestStep, last: this.#lastMean };
  }

  #monitor(): string {
    return this.#options.monitor ?? this.#score.name;
  }

  #mode(): 'min' | 'max' {
    return this.#options.mode ?? 'min';
  }

  #minDelta(): number {
    return this.#options.minDelta ?? 0;
  }
}

function isPlateauState(value: unknown): value is PlateauState {
  if (typeof value !== 'object' || value === null) return false;
  const state = value as Record<string, unknown>;
  const finite = (key: string) => typeof state[key] === 'number' && Number.isFinite(state[key]);
  return (
    typeof state.monitor === 'string' &&
    (state.mode === 'min' || state.mode === 'max') &&
    ['every', 'minDelta', 'bestStep', 'worseChecks', 'sum', 'weight', 'count'].every(finite) &&
    (state.best === null || finite('best'))
  );
}
