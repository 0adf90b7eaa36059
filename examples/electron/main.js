// Electron's main process: a window that asks for dense features of an image, computed by a
// worker thread (featuresWorker.js) so that neither the UI nor this process ever waits.
const { app, BrowserWindow, dialog, ipcMain } = require('electron');
const path = require('node:path');
const { Worker } = require('node:worker_threads');

// A cover-torch run folder, checkpoint or weights file (npx cover-torch pretrain --out runs/demo).
const weights = process.env.COVER_TORCH_WEIGHTS ?? path.join(__dirname, 'runs', 'demo');

/** Requests in flight by id: what to call on progress, on the answer and on failure. */
const pending = new Map();
let nextId = 0;
let worker;

function startWorker() {
  // Worker threads read scripts from the app's asar archive (Electron 18 and later).
  worker = new Worker(path.join(__dirname, 'featuresWorker.js'), { workerData: { weights } });
  worker.on('message', (message) => {
    const request = pending.get(message.id);
    if (!request) return;
    if (message.progress) return request.onProgress(message.progress);
    pending.delete(message.id);
    if (message.error) request.reject(new Error(message.error));
    else request.resolve(message);
  });
  worker.on('error', (error) => {
    for (const request of pending.values()) request.reject(error);
    pending.clear();
  });
}

function encode(image, onProgress) {
  return new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject, onProgress });
    worker.postMessage({ id, image, levels: [1] });
  });
}

/** What the window shows: the grid, and mean and spread of each feature channel. */
function summarise({ features, shape }) {
  const [channels, ...grid] = shape;
  const voxels = features.length / channels;
  const perChannel = [];
  for (let c = 0; c < channels; c++) {
    let sum = 0;
    let squares = 0;
    for (let i = c * voxels; i < (c + 1) * voxels; i++) {
      sum += features[i];
      squares += features[i] * features[i];
    }
    const mean = sum / voxels;
    perChannel.push({ mean, std: Math.sqrt(Math.max(0, squares / voxels - mean * mean)) });
  }
  return { channels, grid, perChannel };
}

app.whenReady().then(() => {
  startWorker();
  ipcMain.handle('pick-image', async () => {
    const { canceled, filePaths } = await dialog.showOpenDialog({
      properties: ['openFile'],
      filters: [{ name: 'Images', extensions: ['nii', 'gz', 'png', 'jpg', 'jpeg'] }],
    });
    return canceled ? undefined : filePaths[0];
  });
  ipcMain.handle('encode', async (event, image) => {
    const started = Date.now();
    const result = await encode(image, (progress) => event.sender.send('progress', progress));
    return { ...summarise(result), seconds: (Date.now() - started) / 1000 };
  });
  const window = new BrowserWindow({
    width: 720,
    height: 560,
    webPreferences: { preload: path.join(__dirname, 'preload.js'), contextIsolation: true },
  });
  window.loadFile(path.join(__dirname, 'index.html'));
});

app.on('window-all-closed', () => {
  worker?.postMessage({ close: true });
  app.quit();
});
