import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A temporary folder for one test file, removed by the caller. */
export function makeTempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `cover-torch-${prefix}-`));
}

/**
 * Lays out the files that identify a LibTorch folder (no real libraries) and returns it.
 * `kind: 'pip'` writes version.py like a pip torch package; 'archive' writes build-version.
 */
export function makeFakeLibtorch(
  parent: string,
  options: { version: string; kind?: 'pip' | 'archive'; cuda?: string | null; name?: string },
): string {
  const folder = path.join(parent, options.name ?? 'torch');
  fs.mkdirSync(path.join(folder, 'share', 'cmake', 'Torch'), { recursive: true });
  fs.mkdirSync(path.join(folder, 'lib'), { recursive: true });
  fs.writeFileSync(path.join(folder, 'share', 'cmake', 'Torch', 'TorchConfig.cmake'), '# fake\n');
  fs.writeFileSync(path.join(folder, 'lib', 'libc10.so'), '');
  if (options.cuda) fs.writeFileSync(path.join(folder, 'lib', 'libtorch_cuda.so'), '');
  if (options.kind === 'archive') {
    fs.writeFileSync(path.join(folder, 'build-version'), `${options.version}\n`);
  } else {
    const cuda = options.cuda ? `'${options.cuda}'` : 'None';
    fs.writeFileSync(
      path.join(folder, 'version.py'),
      `__version__ = '${options.version}'\ncuda: Optional[str] = ${cuda}\n`,
    );
  }
  return folder;
}
