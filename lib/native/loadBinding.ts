import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { describeLibtorch } from '../../scripts/libtorch/describeLibtorch';
import { readManifest, BINARY_NAME, type BuildManifest } from '../../scripts/manifest';
import { packageRoot } from '../packageRoot';
import type { Binding } from './binding';

/** The addon as loaded in this JS context, with where it came from. */
export interface LoadedBinding {
  binding: Binding;
  binaryPath: string;
  manifest: BuildManifest;
}

/**
 * Binary paths to try: COVER_TORCH_BINARY alone when set (a binary asked for by name that
 * does not load is an error, not a reason to load another), else the local build.
 */
export function binaryCandidates(root: string, env: NodeJS.ProcessEnv): string[] {
  if (env.COVER_TORCH_BINARY) return [path.resolve(env.COVER_TORCH_BINARY)];
  return [path.join(root, 'build', 'Release', BINARY_NAME)];
}

/**
 * Why a built binary must not be loaded in this environment, or undefined if it may.
 * It may not when its LibTorch folder is gone, or when LIBTORCH now names another
 * LibTorch than the one it was built (and its RUNPATH set) against.
 */
export function manifestProblem(manifest: BuildManifest, env: NodeJS.ProcessEnv): string | undefined {
  const builtAgainst = manifest.libtorch.folder;
  if (!fs.existsSync(path.join(manifest.libtorch.libDir, 'libc10.so'))) {
    return `it was built against the LibTorch at ${builtAgainst}, which no longer exists`;
  }
  if (env.LIBTORCH) {
    let wanted: string;
    try {
      wanted = describeLibtorch(env.LIBTORCH).folder;
    } catch (error) {
      return `LIBTORCH=${env.LIBTORCH} is not a usable LibTorch: ${(error as Error).message}`;
    }
    if (wanted !== builtAgainst) {
      return `LIBTORCH=${env.LIBTORCH} but the binary was built against ${builtAgainst}`;
    }
  }
  return undefined;
}

/** The thread count to apply when the addon is first loaded in this process. */
export function defaultThreadCount(env: NodeJS.ProcessEnv): number {
  const configured = env.COVER_TORCH_NUM_THREADS;
  if (configured === undefined || configured === '') return os.availableParallelism();
  const parsed = Number(configured);
  if (!Number.isInteger(parsed) || parsed < 1) {
    throw new RangeError(
      `Expected a positive integer for COVER_TORCH_NUM_THREADS but received ${JSON.stringify(configured)}`,
    );
  }
  return parsed;
}

let loaded: LoadedBinding | undefined;

/**
 * Loads the addon once per JS context (main thread, worker, test file).
 * @throws Error listing every binary tried, why each failed, and the ways out.
 */
export function loadBinding(): LoadedBinding {
  if (loaded) return loaded;
  const root = packageRoot();
  const attempts: string[] = [];
  for (const binaryPath of binaryCandidates(root, process.env)) {
    if (!fs.existsSync(binaryPath)) {
      attempts.push(`${binaryPath}: not found`);
      continue;
    }
    let manifest: BuildManifest;
    try {
      manifest = readManifest(path.dirname(binaryPath));
    } catch (error) {
      attempts.push(`${binaryPath}: ${(error as Error).message}`);
      continue;
    }
    const problem = manifestProblem(manifest, process.env);
    if (problem) {
      attempts.push(`${binaryPath}: ${problem}`);
      continue;
    }
    let binding: Binding;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      binding = require(binaryPath) as Binding;
    } catch (error) {
      attempts.push(`${binaryPath}: ${(error as Error).message}`);
      continue;
    }
    binding.setDefaultNumThreadsOnce(defaultThreadCount(process.env));
    stopModelsAtExit(binding);
    loaded = { binding, binaryPath, manifest };
    return loaded;
  }
  throw new Error(missingBinaryMessage(attempts));
}

const STOP_AT_EXIT = Symbol.for('cover-torch.stopModelsAtExit');

/**
 * process.exit and uncaught errors end in the C library's exit, which destroys LibTorch's
 * static objects while a model's thread may be in the middle of a step (a crash, not the
 * exit code asked for). The "exit" event comes first: there every model's thread ends after
 * its running call. Once per process (the mark is on `process`, which every module copy,
 * e.g. each jest test file's, shares); worker threads end theirs as Node tears them down.
 */
function stopModelsAtExit(binding: Binding): void {
  const marked = process as unknown as Record<symbol, boolean>;
  if (!isMainThread || marked[STOP_AT_EXIT]) return;
  marked[STOP_AT_EXIT] = true;
  process.once('exit', () => binding.stopModelsForExit());
}

function missingBinaryMessage(attempts: string[]): string {
  return [
    `Could not load the cover-torch native module for ${process.platform}-${process.arch} (Node-API 8, Node ${process.version}).`,
    'Tried:',
    ...attempts.map((attempt) => `- ${attempt}`),
    'Possible solutions:',
    '- Build it for this machine (this finds or provisions LibTorch first):',
    '    npm rebuild cover-torch',
    "- npm 12 and later skip a dependency's install script, which builds the addon, until the",
    '  project approves it (package.json "allowScripts"). Approve it, then build:',
    '    npm install-scripts approve cover-torch && npm rebuild cover-torch',
    '  (for npx or a global install: npm install -g cover-torch --allow-scripts=cover-torch)',
    '- To build against a particular LibTorch, point LIBTORCH at it while rebuilding:',
    '    LIBTORCH=/path/to/libtorch npm rebuild cover-torch',
    '- Or name a binary directly: COVER_TORCH_BINARY=/path/to/cover_torch.node',
    '- See "Troubleshooting" in the cover-torch README.',
  ].join('\n');
}
