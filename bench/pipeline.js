#!/usr/bin/env node
'use strict';
// How much the JS side adds to a training step (default 2D 128x128 crops, B = 8), with
// batches from the procedural phantoms or from real NIfTI volumes (Debian's mricron-data).
// Trainer.fit runs with prefetch; per step, the wall time between records minus the native
// step time (measured inside C++) is what JS adds: batch preparation not hidden by
// prefetch, copies across the boundary, promise hops, the metrics file. For NIfTI it also
// measures reading + normalising a volume (cold) and patches/s from cached volumes, in 2D
// (slices) and 3D. Medians, so the shared machine's noise matters less.
//   node bench/pipeline.js [--source phantom|nifti] [--steps N] [--crop 128] [--batch-size 8]
// Writes bench/results/pipeline-<source>.json too.
const fs = require('node:fs');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const lib = require(path.resolve(__dirname, '../dist/lib'));
const { CoverModel, Trainer, ImageDataset, patchBatches, patchSizeFor, phantomBatch, phantomBatches } = lib;

const TEMPLATES = '/usr/share/mricron/templates';
const VOLUMES = ['ch2.nii.gz', 'ch2bet.nii.gz', 'ch2better.nii.gz', 'inia19-t1-brain.nii.gz'].map((name) =>
  path.join(TEMPLATES, name),
);

function flag(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  if (index < 0) return fallback;
  const value = process.argv[index + 1];
  return typeof fallback === 'number' ? Number(value) : value;
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** Patches per second from `batches` (after the first, which may fill caches). */
async function patchesPerSecond(batches, batchSize, count) {
  const iterator = batches[Symbol.asyncIterator]();
  await iterator.next();
  const start = performance.now();
  for (let i = 0; i < count; i++) await iterator.next();
  return (count * batchSize * 1000) / (performance.now() - start);
}

/** Reading and patch figures for the NIfTI volumes; the dataset for the training run. */
async function niftiFigures(crop, batchSize) {
  const readMs = [];
  for (const file of VOLUMES) {
    const dataset = new ImageDataset([file]);
    const start = performance.now();
    await dataset.get(0);
    readMs.push(performance.now() - start);
  }
  const dataset = new ImageDataset(VOLUMES, { cacheSize: VOLUMES.length });
  for (let i = 0; i < VOLUMES.length; i++) await dataset.get(i);
  const options2d = { dims: 2, cropSize: [crop, crop], batchSize, seed: 1 };
  const options3d = { dims: 3, cropSize: [64, 64, 64], batchSize: 1, seed: 1 };
  return {
    dataset,
    options2d,
    figures: {
      volumes: VOLUMES.map((file) => path.basename(file)),
      readAndNormaliseMsPerVolume: readMs,
      patches2dPerSecond: await patchesPerSecond(patchBatches(dataset, options2d), batchSize, 20),
      patches3dPerSecond: await patchesPerSecond(patchBatches(dataset, options3d), 1, 20),
      patch3dSize: patchSizeFor([64, 64, 64]),
    },
  };
}

async function main() {
  const source = flag('source', 'phantom');
  const steps = flag('steps', 8);
  const crop = flag('crop', 128);
  const batchSize = flag('batch-size', 8);
  const size = patchSizeFor([crop, crop]);

  let batches;
  let figures;
  if (source === 'nifti') {
    const nifti = await niftiFigures(crop, batchSize);
    figures = nifti.figures;
    batches = patchBatches(nifti.dataset, nifti.options2d);
  } else {
    const start = performance.now();
    phantomBatch(batchSize, size, 1);
    const ms = performance.now() - start;
    figures = { phantomBatchMs: ms, phantomPatchesPerSecond: (batchSize * 1000) / ms };
    batches = phantomBatches(batchSize, size, 2);
  }

  const model = await CoverModel.create({ dims: 2, seed: 0 });
  model.configureTraining({ cropSize: [crop, crop] });
  const trainer = new Trainer(model, { maxSteps: steps + 1, learningRate: 1e-4, prefetch: 2 });
  const overheads = [];
  const nativeSteps = [];
  let previous;
  for await (const record of trainer.steps(batches)) {
    if (previous !== undefined) {
      overheads.push(record.elapsedMs - previous - record.timings.stepMs);
      nativeSteps.push(record.timings.stepMs);
    }
    previous = record.elapsedMs; // the first step (warm-up) is left out
  }
  model.dispose();

  const result = {
    source,
    crop,
    batchSize,
    steps,
    ...figures,
    nativeStepMsMedian: median(nativeSteps),
    jsAddedMsMedian: median(overheads),
    jsShareOfStep: median(overheads) / median(nativeSteps),
  };
  const text = `${JSON.stringify(result, null, 2)}\n`;
  const resultsDir = path.join(__dirname, 'results');
  fs.mkdirSync(resultsDir, { recursive: true });
  fs.writeFileSync(path.join(resultsDir, `pipeline-${source}.json`), text);
  process.stdout.write(text);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
