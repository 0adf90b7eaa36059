// Dense features off the UI's thread: one Encoder per worker, loaded once, then one request
// per message. Electron's main process starts it (main.js); plain Node runs it the same way
// (the package's tests do). The native work already runs on the model's own thread; the
// worker also keeps reading, decompressing and normalising images off the main process.
//
// workerData: { weights: run folder | checkpoint | .safetensors, coverTorch?: module path }
// request:  { id, image: file path, levels?: number[] }   ({ close: true } ends the worker)
// replies:  { id, progress: [done, total] } ... then { id, features, shape, channelsPerLevel, spacing }
//           (features: Float32Array (C, *S), its buffer transferred) or { id, error }
const { parentPort, workerData } = require('node:worker_threads');
const { Encoder } = require(workerData.coverTorch ?? 'cover-torch');

const loading = Encoder.load(workerData.weights);
// A failed load is reported with the first request rather than as an unhandled rejection.
loading.catch(() => undefined);

parentPort.on('message', async (request) => {
  if (request.close) {
    await (await loading.catch(() => undefined))?.dispose();
    parentPort.close();
    return;
  }
  const { id, image, levels = [1] } = request;
  try {
    const encoder = await loading;
    const encoded = await encoder.encode(image, {
      levels,
      onProgress: (done, total) => parentPort.postMessage({ id, progress: [done, total] }),
    });
    const features = encoded.features.data;
    parentPort.postMessage(
      {
        id,
        features,
        shape: encoded.features.shape,
        channelsPerLevel: encoded.channelsPerLevel,
        spacing: encoded.grid.spacing,
      },
      [features.buffer],
    );
  } catch (error) {
    parentPort.postMessage({ id, error: error instanceof Error ? error.message : String(error) });
  }
});
