#!/usr/bin/env node
'use strict';
// Pretrains a 2D COVER encoder on slices of real brain MRI through the public API: the
// human T1 templates and a macaque T1 brain of Debian's mricron-data
// (`apt-get install mricron-data`), axial, coronal and sagittal slices, 96x96 crops from
// 144x144 patches, for a fixed time on the CPU. Leaves checkpoints and metrics.jsonl in
// the output folder; `npx cover-torch plot <out>` draws the curves. `--resume` continues
// the run in --out; a fresh run needs a folder of its own.
//   node examples/pretrain-mricron.js [--minutes 10] [--out runs/mricron-2d] [--steps 600] [--resume]
const path = require('node:path');
const { CoverModel, ImageDataset, Trainer, createLogger, patchBatches } = require('cover-torch');

const TEMPLATES = '/usr/share/mricron/templates';
const VOLUMES = ['ch2.nii.gz', 'ch2bet.nii.gz', 'ch2better.nii.gz', 'inia19-t1-brain.nii.gz'];

function option(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  return index < 0 ? fallback : process.argv[index + 1];
}

async function main() {
  const minutes = Number(option('minutes', 10));
  const steps = Number(option('steps', 600));
  const out = path.resolve(option('out', 'runs/mricron-2d'));
  const logger = createLogger({ level: 'info' });

  // Percentile clipping maps each volume's intensities to [0, 1]; unreadable files stop the run.
  const dataset = await ImageDataset.fromSources(
    VOLUMES.map((name) => path.join(TEMPLATES, name)),
    { normalize: { kind: 'percentile', lower: 0.5, upper: 99.5 }, logger },
  );
  const cropSize = [96, 96];
  const model = await CoverModel.create({ dims: 2, seed: 0 });
  model.configureTraining({ cropSize, seed: 0 });

  const trainer = new Trainer(model, {
    maxSteps: steps, // learning rate: the default warmup + cosine to a peak of 1e-4
    // Stop cleanly (with a checkpoint) when the time is up, whatever the step.
    signal: AbortSignal.timeout(minutes * 60_000),
    checkpoint: { dirpath: path.join(out, 'checkpoints'), everyNTrainSteps: 50 },
    metricsFile: path.join(out, 'metrics.jsonl'),
    resume: process.argv.includes('--resume'),
    logger,
  });
  logger.info(`pretraining on ${dataset.size} volumes for at most ${minutes} min`, { steps, out });
  const batches = (startStep) =>
    patchBatches(dataset, { dims: 2, cropSize, batchSize: 4, sliceAxis: 'any', seed: 0, startStep });
  for await (const record of trainer.steps(batches)) {
    if (record.step % 25 !== 0) continue;
    logger.info(`step ${record.step}`, {
      L_vec: record.vectorLoss.toFixed(3),
      no_motion: record.zeroBaseline.toFixed(3),
      L_con: record.consistencyLoss.toFixed(3),
      reachable: record.reachableFraction.toFixed(3),
    });
  }
  model.dispose();
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
