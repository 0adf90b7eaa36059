import type { TrainingScore } from '../train/trainable';
import type { RawStepMetrics } from '../native/binding';

/**
 * Step metrics of pretraining that early stopping can monitor; `vectorRatio` is the score
 * (mean L_vec over the mean no-motion L_vec), the others are plain means.
 */
export const MONITORED_METRICS = [
  'vectorRatio',
  'vectorLoss',
  'consistencyLoss',
  'totalLoss',
  'featureVariation',
  'reachableFraction',
] as const;
export type MonitoredMetric = (typeof MONITORED_METRICS)[number];

/**
 * Pretraining checkpoints rank by L_vec over the loss of predicting no motion for the same
 * views: L_vec alone rises and falls with how far the views happen to move.
 */
export const PRETRAINING_SCORE: TrainingScore<RawStepMetrics> = {
  name: 'vectorRatio',
  terms: (metrics) => [metrics.vectorLoss, metrics.zeroBaseline],
  loss: (metrics) => metrics.totalLoss,
  monitorable: MONITORED_METRICS.slice(1),
};
