#!/usr/bin/env node
'use strict';
// How much the JS side adds to a training step, at 2D 128x128 crops, B = 8 by default.
// Trainer.fit runs on freshly generated phantom batches with prefetch; per step, the wall
// time between records minus the native step time (measured inside C++) is what JS adds:
// batch generation not hidden by prefetch, copies across the boundary, promise hops,
// the metrics file. Medians, so the shared machine's noise matters less.
//   node bench/pipeline.js [--steps N] [--crop 128] [--batch-size 8]
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { CoverModel, Trainer, phantomBatch, phantomBatches } = require(path.resolve(__dirname, '../dist/lib'));

function flag(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function main() {
  const steps = flag('steps', 8);
  const crop = flag('crop', 128);
  const batchSize = flag('batch-size', 8);
  const size = [Math.round(crop * 1.5), Math.round(crop * 1.5)];

  const generateStart = performance.now();
  phantomBatch(batchSize, size, 1);
  const generateMs = performance.now() - generateStart;

  const model = await CoverModel.create({ dims: 2, seed: 0 });
  model.configureTraining({ cropSize: [crop, crop] });
  const trainer = new Trainer(model, { maxSteps: steps + 1, learningRate: 1e-4, prefetch: 2 });
  const overheads = [];
  const nativeSteps = [];
  let previous;
  for await (const record of trainer.fit(phantomBatches(batchSize, size, 2))) {
    if (previous !== undefined) {
      overheads.push(record.elapsedMs - previous - record.timings.stepMs);
      nativeSteps.push(record.timings.stepMs);
    }
    previous = record.elapsedMs; // the first step (warm-up) is left out
  }
  model.dispose();

  const result = {
    crop,
    batchSize,
    steps,
    phantomBatchMs: generateMs,
    phantomPatchesPerSecond: (batchSize * 1000) / generateMs,
    nativeStepMsMedian: median(nativeSteps),
    jsAddedMsMedian: median(overheads),
    jsShareOfStep: median(overheads) / median(nativeSteps),
  };
  console.log(JSON.stringify(result, null, 2));
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
