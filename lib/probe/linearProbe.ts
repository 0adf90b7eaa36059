import { adoptError, adoptTensor } from '../native/adopt';
import type { RawTensor } from '../native/binding';
import { loadBinding } from '../native/loadBinding';
import type { Tensor } from '../tensor';

/**
 * A per-voxel linear probe: multinomial logistic regression on standardised features, fitted
 * natively (full-batch Adam from zero weights). Its settings are fixed (PROBE_SETTINGS) so
 * that the scores of different encoders compare their features, not the fitting.
 */

/** The probe's fixed settings, stated with every report. */
export const PROBE_SETTINGS = {
  /** Full-batch Adam iterations. */
  iterations: 300,
  /** Adam step size (features are standardised, so one size fits every encoder). */
  learningRate: 0.05,
  /** L2 penalty on the weights (not the biases): l2 / 2 * |W|^2 added to the mean cross-entropy. */
  l2: 1e-4,
  /** Training voxels drawn per class (all of a class when it has fewer). */
  samplesPerClass: 2000,
} as const;

/** A fitted probe: standardisation (mean, 1 / std) then logits = weight x + bias. */
export interface LinearProbe {
  mean: Tensor<'float32'>;
  inverseStd: Tensor<'float32'>;
  weight: Tensor<'float32'>;
  bias: Tensor<'float32'>;
}

/** Fits a probe to rows of features (N, C) and their labels (N) in [0, classes). */
export async function fitLinearProbe(features: Tensor, labels: Tensor<'uint8'>, classes: number): Promise<LinearProbe> {
  const { binding } = loadBinding();
  try {
    const raw = await binding.probe.fit(features, labels, classes, PROBE_SETTINGS);
    return Object.fromEntries(
      Object.entries(raw).map(([key, value]) => [key, adoptTensor(value)]),
    ) as unknown as LinearProbe;
  } catch (error) {
    throw adoptError(error);
  }
}

/** The most probable class of each row (N, C), or of each voxel of a map (1, C, *S). */
export async function predictLinearProbe(probe: LinearProbe, features: Tensor): Promise<Uint8Array> {
  const { binding } = loadBinding();
  try {
    return (
      adoptTensor(
        await binding.probe.predict(probe as unknown as Record<string, RawTensor>, features),
      ) as Tensor<'uint8'>
    ).data;
  } catch (error) {
    throw adoptError(error);
  }
}
