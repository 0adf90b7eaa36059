#!/usr/bin/env node
'use strict';
// Training steps through the public API, as a user calls them; one JSON line on stdout.
//   node bench/apiStep.js step --dims 2 --size 128 --batch 4 --steps 6 --threads 2 [--recompute 1]
//     [--device cuda] [--bf16 1]
//   node bench/apiStep.js concurrent --dims 2 --size 64 --batch 4 --steps 6 --threads 2
//   node bench/apiStep.js case --dims 2 --size 64 --batch 2 --out DIR
// `step` also reports the event loop's delay (p99) while training and while creating the
// model; `concurrent` times the same steps for one model alone, then for two at once;
// `case` writes weights.safetensors and case.safetensors (views and forward outputs) for the
// baseline's forward check.
// Run by bench/compare.js, each measurement in a fresh process.
const { monitorEventLoopDelay, performance } = require('node:perf_hooks');
const path = require('node:path');
const { CoverModel, cudaTensorMemory, saveSafetensors, setNumThreads, tensor } = require('../dist/lib');
const { numberOption: option, randomImages: randomSourceImages } = require('./stepInputs');

const mode = process.argv[2];
const dims = option('dims', 2);
const size = option('size', 128);
const batch = option('batch', 4);
const steps = option('steps', 6);
// Activation recomputation in the backbone (training option `recompute`).
const recompute = option('recompute', 0) === 1;
// The model's device (`cpu`, `cuda`, `cuda:N`), and bf16 autocast of the backbone.
const deviceAt = process.argv.indexOf('--device');
const device = deviceAt > 0 ? process.argv[deviceAt + 1] : 'cpu';
const mixedPrecision = option('bf16', 0) === 1 ? 'bf16' : 'none';
setNumThreads(option('threads', 2));

const randomImages = () => randomSourceImages({ dims, size, batch });

/** p99 of the event loop's delay, in ms, while `work` runs. */
async function loopDelayDuring(work) {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const result = await work();
  histogram.disable();
  return { result, p99Ms: histogram.percentile(99) / 1e6 };
}

async function trainedModel(seed) {
  const model = await CoverModel.create({ dims, seed, device });
  model.configureTraining({ cropSize: Array(dims).fill(size), recompute, mixedPrecision });
  return model;
}

async function timeSteps(model, images) {
  const times = [];
  for (let s = 0; s < steps; s++) {
    const started = performance.now();
    await model.trainStep(images, 1e-4);
    times.push(performance.now() - started);
  }
  return times;
}

async function stepMode() {
  const images = randomImages();
  const onGpu = device.startsWith('cuda');
  const created = await loopDelayDuring(() => trainedModel(0));
  const trained = await loopDelayDuring(() => timeSteps(created.result, images));
  // The most GPU memory the model and its steps held at once, as the PyTorch baseline's
  // torch.cuda.max_memory_allocated counts it.
  const peakGpuMb = onGpu ? cudaTensorMemory({ device }).peakBytes / 2 ** 20 : undefined;
  await created.result.dispose();
  return {
    stepMs: trained.result,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    ...(onGpu ? { peakGpuMb } : {}),
    loopDelayP99Ms: trained.p99Ms,
    createLoopDelayP99Ms: created.p99Ms,
  };
}

async function concurrentMode() {
  const images = randomImages();
  const [a, b] = [await trainedModel(0), await trainedModel(1)];
  await timeSteps(a, images); // warm-up
  await timeSteps(b, images);
  let started = performance.now();
  await timeSteps(a, images);
  const aloneMs = performance.now() - started;
  started = performance.now();
  await Promise.all([timeSteps(a, images), timeSteps(b, images)]);
  const togetherMs = performance.now() - started;
  await Promise.all([a.dispose(), b.dispose()]);
  // Steps per second, two models together against one alone.
  return { aloneMs, togetherMs, combinedThroughputRatio: (2 * aloneMs) / togetherMs };
}

async function caseMode() {
  const out = process.argv[process.argv.indexOf('--out') + 1];
  const model = await CoverModel.create({ dims, seed: 0 });
  const shape = [batch, 1, ...Array(dims).fill(size)];
  const [moving, fixed] = [randomImages().data, randomImages().data].map((data) =>
    tensor(
      data.subarray(
        0,
        shape.reduce((a, b) => a * b, 1),
      ),
      shape,
    ),
  );
  const output = await model.forward(moving, fixed);
  await model.save(path.join(out, 'weights.safetensors'));
  await saveSafetensors(path.join(out, 'case.safetensors'), { moving, fixed, ...output });
  await model.dispose();
  return { written: out };
}

const modes = { step: stepMode, concurrent: concurrentMode, case: caseMode };
modes[mode]().then(
  (result) => console.log(JSON.stringify(result)),
  (error) => {
    console.error(error);
    process.exitCode = 1;
  },
);
