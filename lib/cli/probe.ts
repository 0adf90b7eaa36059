import { checkOutputFile } from './outputFile';
import { writeFileAtomic } from '../io/writeFileAtomic';
import { CoverModel } from '../model/CoverModel';
import { brainProbeSlices, PROBE_NORMALIZE, TEST_SLICES, TRAIN_SLICES } from '../probe/brainLabels';
import { recordedPreprocessing } from '../encoder/preprocessing';
import { SOURCE_NAMES, probeEncoder, probeIntensity, type SourceName, type ProbeScores } from '../probe/probeFeatures';
import { PROBE_SETTINGS } from '../probe/linearProbe';
import { FINETUNE_SETTINGS } from '../probe/finetuneProbe';
import { probeFinetune } from './probeFinetune';
import { initialNetwork, resolveProbeTarget, type ProbeTarget } from './probeInitialization';
import { shorten } from './shorten';

export const PROBE_USAGE = `Usage: cover-torch probe [WEIGHTS...] [options]

Scores dense features with a linear probe on real brain tissue labels (Debian's
mricron-data: ch2 T1 with classes from ch2bet and the AAL atlas; see the README). For each
WEIGHTS (a run folder, a checkpoint folder or a .safetensors file) it reports the mean Dice
of the pretrained encoder and of the same network at its initialisation (the run's
initial.safetensors, else drawn again from its seed), for each decoder level F1..F5, beside
the Dice of the intensity alone. Without WEIGHTS it probes an initialisation only.
Options:
  --seed N       seed of the initialisation to compare with when WEIGHTS has no run folder
                 (config.yaml, initial.safetensors) beside it (default 0)
  --window N     encode slices in overlapping N x N tiles (Gaussian blending, half
                 overlap) instead of whole, as for inputs too large to encode whole
  --finetune     instead of linear probes, fine-tune each network whole with a 1x1 class
                 head on F1 (random 96 x 96 crops of the training slices, Adam 3e-4) and
                 score its segmentation of the test slices: the method's own measure
  --steps N      fine-tuning steps (default ${FINETUNE_SETTINGS.steps})
  --json FILE    also write every score (per class and level) as JSON
  --help         show this help`;

/** One encoder's probe scores per decoder level. */
export type LevelScores = Record<SourceName, ProbeScores>;

export interface ProbeReport {
  settings: typeof PROBE_SETTINGS & {
    trainSlices: readonly number[];
    testSlices: readonly number[];
    /** Tile side of sliding-window encoding; absent when slices are encoded whole. */
    window?: number;
  };
  classes: readonly string[];
  intensity: ProbeScores;
  runs: Array<
    ProbeTarget & {
      pretrained: LevelScores | null;
      initialization: LevelScores;
      /** Which initialisation: the run's recorded initial.safetensors, or drawn again from its seed. */
      initializationLabel: string;
    }
  >;
}

/** Runs `cover-torch probe`; returns the exit code. The table goes to `out`. */
export async function probe(
  argv: string[],
  out: (text: string) => void,
  progress: (text: string) => void = () => undefined,
): Promise<number> {
  const { targets, seed, json, window, finetune, steps } = parseProbeArgs(argv);
  if (json)
    await checkOutputFile(
      json,
      '--json',
      targets.map((target) => ['a run', target] as const),
    );
  const slices = await brainProbeSlices();
  const resolved: ProbeTarget[] = [];
  for (const target of targets.length > 0 ? targets : [null])
    resolved.push(target ? await resolveProbeTarget(target, seed) : { target, weights: null, seed, initial: null });
  if (finetune) return probeFinetune(resolved, slices, steps, json, out, progress);
  const encodeOptions = window === undefined ? {} : { window };
  const report: ProbeReport = {
    settings: { ...PROBE_SETTINGS, trainSlices: TRAIN_SLICES, testSlices: TEST_SLICES, ...encodeOptions },
    classes: slices.train.classes,
    intensity: await probeIntensity(slices),
    runs: [],
  };
  const initializations = new Map<string, LevelScores>();
  for (const run of resolved) {
    let pretrained: LevelScores | null = null;
    let options = { dims: 2 as const };
    if (run.weights) {
      const model = await CoverModel.load(run.weights);
      try {
        checkTwoDimensional(model, run.weights);
        const trainedOn = recordedPreprocessing(model).normalize;
        if (trainedOn && JSON.stringify(trainedOn) !== JSON.stringify(PROBE_NORMALIZE))
          progress(
            `note: ${run.target} was trained on images normalised as ${JSON.stringify(trainedOn)}; the probe's slices are normalised as ${JSON.stringify(PROBE_NORMALIZE)} for every run`,
          );
        pretrained = await probeEncoder(model, slices, 0, encodeOptions);
        options = { ...model.options, dims: 2 };
      } finally {
        model.dispose();
      }
    }
    // Runs of one initialisation share it: probe it once.
    const initial = initialNetwork(run, options);
    if (!initializations.has(initial.key)) {
      const init = await initial.create();
      try {
        checkTwoDimensional(init, run.initial ?? 'the initialisation');
        initializations.set(initial.key, await probeEncoder(init, slices, 0, encodeOptions));
      } finally {
        init.dispose();
      }
    }
    report.runs.push({
      ...run,
      initialization: initializations.get(initial.key)!,
      initializationLabel: initial.label,
      pretrained,
    });
  }
  out(formatProbeReport(report));
  if (json) await writeFileAtomic(json, [Buffer.from(`${JSON.stringify(report, null, 2)}\n`)]);
  return 0;
}

interface ProbeArgs {
  targets: string[];
  seed: number;
  json: string | undefined;
  window: number | undefined;
  finetune: boolean;
  steps: number;
}

function parseProbeArgs(argv: string[]): ProbeArgs {
  const targets: string[] = [];
  let seed = 0;
  let json: string | undefined;
  let window: number | undefined;
  let finetune = false;
  let steps: number = FINETUNE_SETTINGS.steps;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--finetune') {
      finetune = true;
    } else if (arg === '--seed' || arg === '--json' || arg === '--window' || arg === '--steps') {
      const value = argv[++i];
      if (value === undefined) throw new Error(`${arg} needs a value\n\n${PROBE_USAGE}`);
      if (arg === '--json') json = value;
      else if (arg === '--steps') {
        if (!/^\d+$/.test(value) || Number(value) < 1)
          throw new Error(`Expected a positive integer for --steps but received "${value}"`);
        steps = Number(value);
      } else if (arg === '--window') {
        if (!/^\d+$/.test(value) || Number(value) < 16 || Number(value) % 16 !== 0)
          throw new Error(`Expected a multiple of 16 (at least 16) for --window but received "${value}"`);
        window = Number(value);
      } else if (!/^\d+$/.test(value))
        throw new Error(`Expected a non-negative integer for --seed but received "${value}"`);
      else seed = Number(value);
    } else if (arg.startsWith('--')) {
      throw new Error(`unknown option ${arg}\n\n${PROBE_USAGE}`);
    } else {
      targets.push(arg);
    }
  }
  if (finetune && window !== undefined) throw new Error('--window applies to linear probes only, not to --finetune');
  if (!finetune && argv.includes('--steps')) throw new Error('--steps applies to --finetune only');
  return { targets, seed, json, window, finetune, steps };
}

function checkTwoDimensional(model: CoverModel, name: string): void {
  if (model.options.dims !== 2) throw new Error(`${name} is a 3D model; the probe scores 2D encoders`);
}

/** The report as a plain-text table of mean Dice per level. */
export function formatProbeReport(report: ProbeReport): string {
  const s = report.settings;
  const row = (label: string, scores: LevelScores) =>
    `${label.padEnd(44)}${SOURCE_NAMES.map((level) => scores[level].meanDice.toFixed(3).padStart(8)).join('')}`;
  const lines = [
    `Linear probe: softmax regression on standardised features, ${s.samplesPerClass} voxels per class from`,
    `axial slices ${s.trainSlices.join(', ')} of ch2, tested on ${s.testSlices.length} slices (${s.testSlices[0]}..${s.testSlices.at(-1)});`,
    `Adam ${s.iterations} iterations, step ${s.learningRate}, L2 ${s.l2}. Classes: ${report.classes.join(', ')}.`,
    s.window === undefined
      ? 'Features of whole slices.'
      : `Features encoded in ${s.window} x ${s.window} tiles (half overlap, Gaussian blending).`,
    '',
    `mean Dice${' '.repeat(35)}${SOURCE_NAMES.map((level) => level.padStart(8)).join('')}`,
    `intensity alone${' '.repeat(29)}${report.intensity.meanDice.toFixed(3).padStart(8)}`,
  ];
  for (const run of report.runs) {
    if (run.pretrained) lines.push(row(shorten(run.target ?? '', 42), run.pretrained));
    lines.push(row(`  ${run.initializationLabel}`, run.initialization));
  }
  const pretrained = report.runs.flatMap((run) => (run.pretrained ? [run] : []));
  if (pretrained.length > 1) {
    const mean = (pick: (run: (typeof pretrained)[number]) => LevelScores) =>
      Object.fromEntries(
        SOURCE_NAMES.map((level) => [
          level,
          {
            dice: [],
            meanDice: pretrained.reduce((sum, run) => sum + pick(run)[level].meanDice, 0) / pretrained.length,
          },
        ]),
      ) as unknown as LevelScores;
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
