#!/usr/bin/env node
'use strict';
// Time and memory of each of the first training steps through the public API: how the
// peak settles. Compare the package's CPU allocator with LibTorch's default one:
//   node bench/stepMemory.js --dims 3 --size 64 --steps 3 [--recompute 1]
//   COVER_TORCH_CPU_ALLOCATOR=libtorch node bench/stepMemory.js --dims 3 --size 64 --steps 3
// Prints one JSON line: per step its time, RSS, the RSS peak so far (VmHWM) and the peak of
// live tensor bytes during the step (0 with LibTorch's allocator, which does not count), MB.
const fs = require('node:fs');
const { CoverModel, setNumThreads, cpuTensorMemory } = require('../dist/lib');
const { numberOption: option, randomImages } = require('./stepInputs');

const dims = option('dims', 3);
const size = option('size', 64);
const batch = option('batch', 1);
const steps = option('steps', 3);
const recompute = option('recompute', 0) === 1;
setNumThreads(option('threads', 2));

const peakMb = () => Number(fs.readFileSync('/proc/self/status', 'utf8').match(/VmHWM:\s+(\d+)/)[1]) / 1024;
const rssMb = () => process.memoryUsage().rss / 1048576;

(async () => {
  const model = await CoverModel.create({ dims, seed: 0 });
  model.configureTraining({ cropSize: Array(dims).fill(size), recompute });
  const images = randomImages({ dims, size, batch });
  const records = [];
  for (let step = 1; step <= steps; step++) {
    const started = Date.now();
    cpuTensorMemory({ resetPeak: true });
    await model.trainStep(images, 1e-4);
    const tensors = cpuTensorMemory();
    records.push({
      step,
      seconds: (Date.now() - started) / 1000,
      rssMb: Math.round(rssMb()),
      peakMb: Math.round(peakMb()),
      tensorPeakMb: Math.round(tensors.peakBytes / 1048576),
    });
  }
  await model.dispose();
  const { allocator } = cpuTensorMemory();
  console.log(JSON.stringify({ dims, size, batch, recompute, allocator, records }));
})();
