import os from 'node:os';
import { rangeError, typeError } from './errors';
import { callSync } from './native/adopt';
import { loadBinding } from './native/loadBinding';
import { packageVersion } from './packageRoot';

/** What `info()` reports: this package, its LibTorch, CUDA and threads. */
export interface RuntimeInfo {
  /** cover-torch's package version. */
  packageVersion: string;
  /** Path of the loaded native binary. */
  binaryPath: string;
  /** Node-API version the binary was built for. */
  napiVersion: number;
  libtorch: {
    /** Full version, e.g. `2.13.0+cpu`. */
    version: string;
    /** `cpu`, or `cuXYZ` for a CUDA build. */
    flavour: string;
    /** The LibTorch folder the binary was built against and loads from. */
    folder: string;
    /** How it was found at build time: `LIBTORCH`, `python`, `cache` or `provisioned`. */
    source: string;
    /** Every LibTorch shared library mapped into this process (one copy of each). */
    loadedLibraries: string[];
  };
  cuda: {
    available: boolean;
    deviceCount: number;
    deviceNames: string[];
  };
  threads: {
    /** LibTorch intra-op threads (see {@link setNumThreads}). */
    intraOp: number;
    interOp: number;
    /** LibTorch's parallel backend, e.g. `OpenMP`. */
    backend: string;
  };
}

/** Reports the package version, LibTorch, CUDA devices, threads and the loaded binary. */
export function info(): RuntimeInfo {
  const { binding, binaryPath, manifest } = loadBinding();
  const raw = callSync(() => binding.info());
  return {
    packageVersion: packageVersion(),
    binaryPath,
    napiVersion: raw.napiVersion,
    libtorch: {
      version: manifest.libtorch.version,
      flavour: manifest.libtorch.flavour,
      folder: manifest.libtorch.folder,
      source: manifest.libtorch.source,
      loadedLibraries: raw.loadedTorchLibraries,
    },
    cuda: { available: raw.cudaAvailable, deviceCount: raw.cudaDeviceCount, deviceNames: raw.cudaDeviceNames },
    threads: { intraOp: raw.numThreads, interOp: raw.numInteropThreads, backend: raw.parallelBackend },
  };
}

/**
 * Sets the process's intra-op thread budget. Each model's next call (and any other native
 * call) runs with it, applied on the thread that does the work; models computing at the same
 * moment split it between them rather than oversubscribing the cores. Defaults to the number
 * of available cores, or `COVER_TORCH_NUM_THREADS`.
 * @throws TypeError for a non-number, RangeError for anything but an integer in 1..4096.
 */
export function setNumThreads(numThreads: number): void {
  if (typeof numThreads !== 'number') throw typeError('numThreads', 'an integer between 1 and 4096', numThreads);
  if (!Number.isInteger(numThreads) || numThreads < 1 || numThreads > 4096) {
    throw rangeError('numThreads', 'an integer between 1 and 4096', numThreads);
  }
  const { binding } = loadBinding();
  callSync(() => binding.setNumThreads(numThreads));
  warnAboveCores(numThreads);
}

let warnedAboveCores = false;

/** Once per process: more threads than cores only wait on each other (256 on 2 cores: 200x slower). */
function warnAboveCores(numThreads: number): void {
  const cores = os.availableParallelism();
  if (numThreads <= cores || warnedAboveCores) return;
  warnedAboveCores = true;
  process.emitWarning(
    `setNumThreads(${numThreads}) is above the ${cores} cores available: threads beyond the cores slow every step down`,
    { code: 'COVER_TORCH_THREADS_ABOVE_CORES' },
  );
}

/** LibTorch's intra-op thread count on the calling thread (the budget, once set). */
export function getNumThreads(): number {
  return loadBinding().binding.getNumThreads();
}

/**
 * LibTorch's own warnings raised in native work (model calls, `ops`) since the last call,
 * oldest first, instead of being printed to stderr; `dropped` counts older ones beyond the
 * 256 kept. The Trainer logs them at debug level after each step.
 */
export function takeNativeWarnings(): { messages: string[]; dropped: number } {
  return loadBinding().binding.takeWarnings();
}

/** What {@link cpuTensorMemory} reports. */
export interface CpuTensorMemory {
  /**
   * `cover-torch`: LibTorch's CPU tensors come from this package's allocator, which maps
   * each large one on its own and returns it to the system when freed. `libtorch`: its
   * default allocator (`COVER_TORCH_CPU_ALLOCATOR=libtorch`), and the byte counts stay 0.
   */
  allocator: 'cover-torch' | 'libtorch';
  /** Bytes of CPU tensors alive now, in every model and call of this process. */
  liveBytes: number;
  /** The most bytes alive at once since the last reset (or since the module loaded). */
  peakBytes: number;
  /**
   * Freed blocks kept for reuse by the next tensors of the same size (a training step
   * allocates the same shapes every step). Live and cached bytes together never exceed the
   * most ever alive at once; disposing a model or {@link releaseCachedCpuMemory} frees them.
   */
  cachedBytes: number;
}

/**
 * Bytes held by LibTorch's CPU tensors: alive now and at their peak. The peak covers every
 * native call since the last `{ resetPeak: true }`, which starts a new one from what is alive
 * after reading it. Unlike the process's RSS this counts tensors only, not the allocator's
 * or Node's own memory.
 */
export function cpuTensorMemory(options: { resetPeak?: boolean } = {}): CpuTensorMemory {
  if (typeof options !== 'object' || options === null) throw typeError('options', 'an object', options);
  const { resetPeak = false } = options;
  if (typeof resetPeak !== 'boolean') throw typeError('options.resetPeak', 'a boolean', resetPeak);
  return loadBinding().binding.cpuTensorMemory(resetPeak);
}

/**
 * Returns the CPU allocator's cached blocks to the system, e.g. after training when the
 * process goes on with smaller work. Disposing a model does this too. Returns the bytes freed.
 */
export function releaseCachedCpuMemory(): number {
  return loadBinding().binding.releaseCachedCpuMemory();
}

/** What {@link cudaTensorMemory} reports, in bytes. */
export interface CudaTensorMemory {
  /** The device read, as `cuda:N`. */
  device: string;
  /** CUDA tensors alive now on that device, in every model and call of this process. */
  liveBytes: number;
  /** The most alive at once since the last reset (or since the process started). */
  peakBytes: number;
  /**
   * Held from the driver: the live bytes and the blocks LibTorch's caching allocator keeps
   * for reuse. This is what other processes on the GPU cannot have.
   */
  reservedBytes: number;
}

/**
 * Bytes held by CUDA tensors on one GPU (`device`: `'cuda'`, the first, or `'cuda:N'`):
 * alive now, at their peak, and reserved. The peak covers every native call on that device
 * since the last `{ resetPeak: true }`, which starts a new one from what is alive after
 * reading it. Throws, saying why, in a CPU-only build or where that GPU does not exist.
 */
export function cudaTensorMemory(options: { device?: string; resetPeak?: boolean } = {}): CudaTensorMemory {
  if (typeof options !== 'object' || options === null) throw typeError('options', 'an object', options);
  const { device = 'cuda', resetPeak = false } = options;
  const match = typeof device === 'string' ? /^cuda(?::(\d+))?$/.exec(device) : null;
  if (!match) throw typeError('options.device', "'cuda' or 'cuda:N'", device);
  if (typeof resetPeak !== 'boolean') throw typeError('options.resetPeak', 'a boolean', resetPeak);
  const index = Number(match[1] ?? 0);
  if (index > 1023) throw rangeError('options.device', 'a CUDA device index of at most 1023', device);
  return { device: `cuda:${index}`, ...loadBinding().binding.cudaTensorMemory(index, resetPeak) };
}
