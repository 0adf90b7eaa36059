import { formatEvaluation } from '../../lib/cli/evaluate';
import { scoreSegmentation } from '../../lib/segment/segmentationMetrics';

const whole = (source: string) => ({
  image: new Float32Array(4),
  labels: new Int32Array(4),
  shape: [2, 2],
  spacing: [1, 1],
  source,
});

describe('the evaluate table', () => {
  it('notes when a mean HD95 leaves out a class found in only one of prediction and truth', () => {
    const truth = Int32Array.from([0, 1, 1, 0]);
    const found = scoreSegmentation(Int32Array.from([0, 1, 0, 0]), truth, [2, 2], { classes: 2 });
    const missed = scoreSegmentation(Int32Array.from([0, 0, 0, 0]), truth, [2, 2], { classes: 2 });
    const table = (scores: typeof found) =>
      formatEvaluation([{ whole: whole('a.nii'), predicted: new Int32Array(4), scores }], 2);
    expect(table(found)).not.toContain('inf');
    expect(missed.perClass[1]!.hausdorff95).toBe(Infinity);
    expect(table(missed)).toContain(
      '(mean HD95 leaves out classes present in only one of prediction and truth: their HD95 is inf)',
    );
  });
});
