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
