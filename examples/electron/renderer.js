// The window: choose an image, show progress, then the feature grid and channel statistics.
const status = document.getElementById('status');
const result = document.getElementById('result');

window.coverTorch.onProgress(([done, total]) => {
  status.textContent = `encoding: ${done} / ${total}`;
});

document.getElementById('pick').addEventListener('click', async () => {
  const image = await window.coverTorch.pickImage();
  if (!image) return;
  status.textContent = `encoding ${image}…`;
  try {
    const { channels, grid, perChannel, seconds } = await window.coverTorch.encode(image);
    status.textContent = `done in ${seconds.toFixed(1)} s`;
    result.textContent =
      `${channels} channels on a ${grid.join(' x ')} grid\n\n` +
      perChannel.map((c, i) => `channel ${i}: mean ${c.mean.toFixed(4)}, std ${c.std.toFixed(4)}`).join('\n');
  } catch (error) {
    status.textContent = `failed: ${error.message}`;
  }
});
