// The window's only way to the main process: pick an image, encode it, hear its progress.
const { contextBridge, ipcRenderer } = require('electron');

contextBridge.exposeInMainWorld('coverTorch', {
  pickImage: () => ipcRenderer.invoke('pick-image'),
  encode: (image) => ipcRenderer.invoke('encode', image),
  onProgress: (listener) => ipcRenderer.on('progress', (_event, progress) => listener(progress)),
});
