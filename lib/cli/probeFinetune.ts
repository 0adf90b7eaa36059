import { writeFileAtomic } from '../io/writeFileAtomic';
import { CoverModel } from '../model/CoverModel';
import type { LabelledSlices } from '../probe/brainLabels';
import { TEST_SLICES, TRAIN_SLICES } from '../probe/brainLabels';
import { FINETUNE_SETTINGS, finetuneProbe } from '../probe/finetuneProbe';
import type { ProbeScores } from '../probe/probeFeatures';
import { initialNetwork, type ProbeTarget } from './probeInitialization';
import { shorten } from './shorten';

export interface FinetuneReport {
  settings: Omit<typeof FINETUNE_SETTINGS, 'steps'> & {
    steps: number;
    trainSlices: readonly number[];
    testSlices: readonly number[];
  };
  classes: readonly string[];
  runs: Array<
    ProbeTarget & {
      pretrained: ProbeScores | null;
      initialization: ProbeScores;
      /** Which initialisation: the run's recorded initial.safetensors, or drawn again from its seed. */
      initializationLabel: string;
    }
  >;
}

/**
 * `cover-torch probe --finetune`: each target's weights and the same network's
 * initialisation fine-tuned alike on the training slices, scored on the test slices.
 */
export async function probeFinetune(
  targets: ProbeTarget[],
  slices: { train: LabelledSlices; test: LabelledSlices },
  steps: number,
  json: string | undefined,
  out: (text: string) => void,
  progress: (text: string) => void,
): Promise<number> {
  const report: FinetuneReport = {
    settings: { ...FINETUNE_SETTINGS, steps, trainSlices: TRAIN_SLICES, testSlices: TEST_SLICES },
    classes: slices.train.classes,
    runs: [],
  };
  const initializations = new Map<string, ProbeScores>();
  const tune = async (label: string, model: CoverModel) => {
    try {
      if (model.options.dims !== 2) throw new Error(`${label} is a 3D model; the probe scores 2D encoders`);
      const scores = await finetuneProbe(model, slices, {
        steps,
        onStep: (step, loss) => {
          if (step % 50 === 0 || step === steps) progress(`${label}: step ${step}/${steps}, loss ${loss.toFixed(4)}`);
        },
      });
      progress(`${label}: mean Dice ${scores.meanDice.toFixed(3)}`);
      return scores;
    } finally {
      await model.dispose();
    }
  };
  for (const run of targets) {
    let pretrained: ProbeScores | null = null;
    let options = { dims: 2 as const };
    if (run.weights) {
      const model = await CoverModel.load(run.weights);
      options = { ...model.options, dims: 2 };
      pretrained = await tune(run.weights, model);
    }
    // Runs of one initialisation share it: fine-tune it once.
    const initial = initialNetwork(run, options);
    if (!initializations.has(initial.key))
      initializations.set(initial.key, await tune(initial.label, await initial.create()));
    report.runs.push({
      ...run,
      pretrained,
      initialization: initializations.get(initial.key)!,
      initializationLabel: initial.label,
    });
  }
  out(formatFinetuneReport(report));
  if (json) await writeFileAtomic(json, [Buffer.from(`${JSON.stringify(report, null, 2)}\n`)]);
  return 0;
}

/** The report as a table of per-class and mean Dice. */
export function formatFinetuneReport(report: FinetuneReport): string {
  const s = report.settings;
  const header = ['mean', ...report.classes.map((name) => name.split(' ')[0]!)];
  const row = (label: string, scores: ProbeScores) =>
    `${label.padEnd(44)}${[scores.meanDice, ...scores.dice].map((d) => d.toFixed(3).padStart(12)).join('')}`;
  const lines = [
    `Fine-tuning: the whole network and a 1x1 class head on F1, ${s.steps} steps of ${s.batch} random`,
    `${s.crop} x ${s.crop} crops (one per slice) from axial slices ${s.trainSlices.join(', ')} of ch2; ${s.loss};`,
    `Adam lr ${s.learningRate}, weight decay 1e-4; tested on ${s.testSlices.length} whole slices (${s.testSlices[0]}..${s.testSlices.at(-1)}).`,
    '',
    `Dice${' '.repeat(40)}${header.map((h) => h.padStart(12)).join('')}`,
  ];
  for (const run of report.runs) {
    if (run.pretrained) lines.push(row(shorten(run.target ?? '', 42), run.pretrained));
    lines.push(row(`  ${run.initializationLabel}`, run.initialization));
  }
  const pretrained = report.runs.flatMap((run) => (run.pretrained ? [run] : []));
  if (pretrained.length > 1) {
    const mean = (pick: (run: (typeof pretrained)[number]) => ProbeScores): ProbeScores => ({
      meanDice: pretrained.reduce((sum, run) => sum + pick(run).meanDice, 0) / pretrained.length,
      dice: report.classes.map(
        (_, k) => pretrained.reduce((sum, run) => sum + pick(run).dice[k]!, 0) / pretrained.length,
      ),
    });
    lines.push(
      row(
        `mean of ${pretrained.length}: pretrained`,
        mean((run) => run.pretrained!),
      ),
    );
    lines.push(
      row(
        `mean of ${pretrained.length}: initialisation`,
        mean((run) => run.initialization),
      ),
    );
  }
  return `${lines.join('\n')}\n`;
}
