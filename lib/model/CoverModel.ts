import { loadSafetensors, saveSafetensors } from '../io/safetensors';
import { adoptError, adoptTensor, callNative } from '../native/adopt';
import type { RawModel, RawStepMetrics } from '../native/binding';
import { loadBinding } from '../native/loadBinding';
import { assertTensor, tensor, type Tensor } from '../tensor';
import { checkNumber, firstNonFinite } from '../validate';
import { ConfigError } from '../config/parseOptions';
import { gatherBox } from '../encoder/boxes';
import { checkTilingOptions, encodeSlidingWindow, type SlidingWindowOptions } from '../encoder/slidingWindow';
import { weightsFileOf } from '../train/checkpoints';
import { assertDeviceSupported } from './device';
import { resolveModelOptions, type ModelOptions, type ResolvedModelOptions } from './modelOptions';
import { resolveTrainingOptions, type TrainingOptions } from './trainingOptions';
import { PRETRAINING_SCORE } from './pretrainingScore';
import { windowGrid, withoutWindowGrid, WINDOW_GRID } from './windowGrid';
import type { Trainable } from '../train/trainable';
import { frozenCopy } from '../frozenCopy';
import { DisposedError } from '../native/disposedError';

export { DisposedError };

let liveNativeModel: (model: CoverModel) => RawModel;

/** The native model behind `model` (DisposedError once disposed). Internal to lib/. */
export function nativeModelOf(model: CoverModel): RawModel {
  return liveNativeModel(model);
}

/** What one training step reports. */
export type StepMetrics = RawStepMetrics;

/** The result of {@link CoverModel.forward}. */
export interface ForwardOutput {
  /** Predicted displacement psi' (B, n, *S), voxels, array-axis order: fixed(x) ~ moving(x + psi'(x)). */
  displacement: Tensor<'float32'>;
  /** Finest features of the moving view, M1 (B, C1, *S). */
  movingFeatures: Tensor<'float32'>;
  /** Finest features of the fixed view, F1 (B, C1, *S). */
  fixedFeatures: Tensor<'float32'>;
}

/** Options of {@link CoverModel.encode}. */
export interface EncodeOptions extends Partial<Omit<SlidingWindowOptions, 'fullResolution'>> {
  /**
   * Upsample every level linearly to the input's size, so all levels share its grid (for
   * per-voxel use such as a linear probe). Default false: level l has ceil(S / 2^l) voxels.
   */
  fullResolution?: boolean;
}

/** Where a weights file records the model options (safetensors metadata). */
export const MODEL_OPTIONS_METADATA = 'cover-torch.model-options';

/**
 * A COVER network (U-Net backbone, projections, vector pyramid) in native memory.
 * Create with {@link CoverModel.create} or {@link CoverModel.load}; free with `dispose()`.
 */
export class CoverModel<D extends 2 | 3 = 2 | 3> implements Trainable<Tensor, StepMetrics> {
  /** How a Trainer ranks checkpoints: L_vec over the no-motion baseline. */
  readonly trainingScore = PRETRAINING_SCORE;

  readonly options: ResolvedModelOptions & { dims: D };
  /** The device the model lives on, as LibTorch names it ('cpu', 'cuda:0', ...). */
  readonly device: string;
  readonly #parameterCount: number;
  #native: RawModel | undefined;
  /**
   * The string metadata of the file a loaded model came from (safetensors header): what
   * `save(file, { metadata })` stored, e.g. how a run normalised its images. Empty for a
   * created model until set; `save` writes it back.
   */
  metadata: Readonly<Record<string, string>> = {};

  private constructor(
    options: ResolvedModelOptions & { dims: D },
    native: RawModel,
    built: { parameterCount: number; device: string },
  ) {
    this.options = frozenCopy(options);
    this.device = built.device;
    this.#parameterCount = built.parameterCount;
    this.#native = native;
  }

  /**
   * Builds a freshly initialised model (Kaiming-normal convolutions, GroupNorm 1/0) on its
   * own native thread, off the JS thread.
   */
  static async create<D extends 2 | 3>(options: ModelOptions & { dims: D }): Promise<CoverModel<D>> {
    const resolved = resolveModelOptions(options);
    const { binding, manifest } = loadBinding();
    assertDeviceSupported(resolved.device, manifest.libtorch);
    let native: RawModel;
    try {
      native = new binding.Model(resolved);
    } catch (error) {
      throw adoptError(error);
    }
    try {
      return new CoverModel(resolved as ResolvedModelOptions & { dims: D }, native, await native.build());
    } catch (error) {
      void native.dispose();
      throw adoptError(error);
    }
  }

  /**
   * Loads weights saved by {@link CoverModel.save} (or any file with the same names and
   * shapes): a .safetensors file, a checkpoint folder, or a run folder (its
   * final.safetensors, else its latest checkpoint). `options` override what the file records, e.g. `{ device: 'cuda' }`; a file
   * without recorded options needs all of them.
   */
  static async load(target: string, options?: Partial<ModelOptions>): Promise<CoverModel> {
    const file = await weightsFileOf(target);
    const { tensors, metadata } = await loadSafetensors(file);
    return modelFromTensors(file, tensors, metadata, options);
  }

  /** The number of scalar parameters (7,881,712 for the 2D defaults). */
  parameterCount(): number {
    this.#live();
    return this.#parameterCount;
  }

  /** Predicts the displacement between two views and returns the finest features of both. */
  async forward(moving: Tensor, fixed: Tensor): Promise<ForwardOutput> {
    assertTensor(moving, 'moving');
    assertTensor(fixed, 'fixed');
    checkImages(this.options, moving, 'moving');
    checkImages(this.options, fixed, 'fixed');
    if (moving.shape.join() !== fixed.shape.join()) {
      throw new RangeError(
        `Expected fixed of shape [${moving.shape.join(', ')}] like moving but received [${fixed.shape.join(', ')}]`,
      );
    }
    const native = this.#live();
    const out = await callNative(() => native.forward(moving, fixed));
    return {
      displacement: adoptTensor(out.displacement) as Tensor<'float32'>,
      movingFeatures: adoptTensor(out.movingFeatures) as Tensor<'float32'>,
      fixedFeatures: adoptTensor(out.fixedFeatures) as Tensor<'float32'>,
    };
  }

  /**
   * Dense correspondence between two images of any size (B, C_in, *S): the displacement
   * psi (B, n, *S) in voxels, array-axis order, such that fixed(x) ~ moving(x + psi(x)).
   * Both are zero-padded to multiples of 16 at their far end for the network and the field
   * is cropped back. `warp(movingLabels, psi, { mode: 'nearest' })` then carries labels of
   * the moving image onto the fixed one.
   */
  async correspond(moving: Tensor, fixed: Tensor): Promise<Tensor<'float32'>> {
    assertTensor(moving, 'moving');
    assertTensor(fixed, 'fixed');
    checkImages(this.options, moving, 'moving');
    checkImages(this.options, fixed, 'fixed');
    if (moving.shape.join() !== fixed.shape.join()) {
      throw new RangeError(
        `Expected fixed of shape [${moving.shape.join(', ')}] like moving but received [${fixed.shape.join(', ')}]`,
      );
    }
    const [batch, channels, ...size] = moving.shape as number[];
    const padded = size.map((s) => Math.ceil(s / 16) * 16);
    const pad = (image: Tensor) => {
      if (padded.every((p, axis) => p === size[axis])) return image;
      const out = new Float32Array(batch! * channels! * padded.reduce((a, b) => a * b, 1));
      gatherBox(image.data as Float32Array, size, out, padded, Array(size.length).fill(0), batch! * channels!);
      return tensor(out, [batch!, channels!, ...padded]);
    };
    const { displacement } = await this.forward(pad(moving), pad(fixed));
    if (padded.every((p, axis) => p === size[axis])) return displacement;
    const planes = batch! * size.length;
    const cropped = new Float32Array(planes * size.reduce((a, b) => a * b, 1));
    gatherBox(displacement.data, padded, cropped, size, Array(size.length).fill(0), planes);
    return tensor(cropped, [batch!, size.length, ...size]);
  }

  /**
   * Runs the backbone alone on images (B, C_in, *S) of any size and returns its decoder
   * pyramid fine to coarse: F1 (C1 channels, full size), F2 (1/2), F3 (1/4), F4 (1/8) and
   * the bottleneck F5 (1/16). Sides that are not multiples of 16 are zero-padded at their
   * far end for the network and cropped back. With `window`, the input is encoded in
   * overlapping tiles of that size, blended (see {@link SlidingWindowOptions}): memory is
   * bounded by the tile. Runs off the JS thread.
   */
  async encode(images: Tensor, options: EncodeOptions = {}): Promise<Tensor<'float32'>[]> {
    assertTensor(images, 'images');
    checkImages(this.options, images, 'images');
    checkTilingOptions(options, ['fullResolution'], 'encode');
    const { fullResolution = false, window, ...tiling } = options;
    if (typeof fullResolution !== 'boolean')
      throw new TypeError(`Expected a boolean for fullResolution but received ${typeof fullResolution}`);
    const native = this.#live();
    const encodeTile = async (tile: Tensor, full: boolean) => {
      const levels = await callNative(() => native.encode(tile, full));
      return levels.map((level) => adoptTensor(level) as Tensor<'float32'>);
    };
    if (window === undefined) return encodeTile(images, fullResolution);
    return encodeSlidingWindow(encodeTile, images as Tensor<'float32'>, { ...tiling, window, fullResolution });
  }

  /**
   * Sets up the optimiser and view generation for {@link CoverModel.trainStep}. Options are
   * checked here; the set-up is queued before the calls made after it, and should it fail
   * natively, those calls reject with the reason.
   */
  configureTraining(options: TrainingOptions<D>): void {
    const raw = resolveTrainingOptions(options, this.options.dims);
    const native = this.#live();
    try {
      // The failure is kept natively and reported by the next trainer call.
      native.configureTraining(raw).catch(() => undefined);
    } catch (error) {
      throw adoptError(error);
    }
  }

  /**
   * One training step on a batch of images (B, C_in, *S), S at least the crop size (about
   * 1.5x for context): views, forward, losses, backward, clipping, optimiser step at
   * `learningRate`. Runs off the JS thread.
   */
  async trainStep(images: Tensor, learningRate: number): Promise<StepMetrics> {
    assertTensor(images, 'images');
    checkImages(this.options, images, 'images');
    checkNumber(learningRate, 'learningRate', 0);
    const native = this.#live();
    return callNative(() => native.trainStep(images, learningRate));
  }

  /**
   * Parameters and buffers by PyTorch state_dict name, copied to JS memory, with the MoV
   * window's offsets as `mov.grid` (as PyTorch's module of the method has them), so that a
   * strict `load_state_dict` in PyTorch takes the saved file.
   */
  async stateDict(): Promise<Record<string, Tensor>> {
    const native = this.#live();
    const raw = await callNative(() => native.stateDict());
    const tensors = Object.fromEntries(Object.entries(raw).map(([name, tensor]) => [name, adoptTensor(tensor)]));
    return { ...tensors, [WINDOW_GRID]: windowGrid(this.options.dims, this.options.radius) };
  }

  /**
   * Replaces every parameter; names and shapes must match exactly, values be finite float32.
   * `mov.grid` may be there or not; when it is, it must be this model's window.
   */
  async loadStateDict(tensors: Record<string, Tensor>): Promise<void> {
    if (typeof tensors !== 'object' || tensors === null || Array.isArray(tensors))
      throw new TypeError(
        `Expected a state dict (an object of tensors by parameter name) but received ${tensors === null ? 'null' : Array.isArray(tensors) ? 'an array' : typeof tensors}`,
      );
    // Own entries, each read once: what is checked is what the native side reads (it would
    // also see inherited properties, and call a getter again).
    const own: Record<string, Tensor> = Object.fromEntries(Object.entries(tensors));
    for (const [name, tensor] of Object.entries(own)) assertTensor(tensor, `stateDict["${name}"]`);
    tensors = withoutWindowGrid(own, this.options.dims, this.options.radius);
    for (const [name, tensor] of Object.entries(tensors)) {
      // A cast would hide a file of another precision; NaN or Inf would make a dead model.
      if (tensor.dtype !== 'float32')
        throw new TypeError(
          `Expected float32 data for stateDict["${name}"] (the model's dtype) but received ${tensor.dtype}; convert it first (in PyTorch: tensor.float())`,
        );
      const values = tensor.data as Float32Array;
      const i = firstNonFinite(values);
      if (i >= 0) throw new RangeError(`stateDict["${name}"] holds ${values[i]} at index ${i}; weights must be finite`);
    }
    const native = this.#live();
    await callNative(() => native.loadStateDict(tensors));
  }

  /**
   * Writes the weights to a safetensors file (atomically) with PyTorch state_dict names, so
   * `model.load_state_dict(safetensors.torch.load_file(path))` works in Python. The file's
   * header carries the model options and `model.metadata` (what the model was loaded with, or
   * set, e.g. how its training images were prepared; checkpoints carry it too), with
   * `options.metadata` (strings) over it; `load` gives it back as `model.metadata`.
   */
  async save(file: string, options: { metadata?: Record<string, string> } = {}): Promise<void> {
    // The seed and the device describe this run, not the network.
    const { seed: _seed, device: _device, ...modelOptions } = this.options;
    void _seed;
    void _device;
    const metadata = { ...this.metadata, ...options.metadata };
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string')
        throw new TypeError(`Expected a string for metadata["${key}"] but received ${typeof value}`);
    }
    await saveSafetensors(file, await this.stateDict(), {
      ...metadata,
      format: 'pt',
      [MODEL_OPTIONS_METADATA]: JSON.stringify(modelOptions),
    });
  }

  /** Optimiser moments, view-generator state and step count, for exact resume. */
  async saveTrainingState(file: string): Promise<void> {
    const native = this.#live();
    const state = await callNative(() => native.trainingState());
    const tensors: Record<string, Tensor> = { generator: adoptTensor(state.generator) };
    for (const [name, tensor] of Object.entries(state.optimizer)) tensors[`optimizer.${name}`] = adoptTensor(tensor);
    await saveSafetensors(file, tensors, { steps: String(state.steps) });
  }

  /** Restores what {@link CoverModel.saveTrainingState} wrote; call configureTraining() first. */
  async loadTrainingState(file: string): Promise<void> {
    const { tensors, metadata } = await loadSafetensors(file);
    const generator = tensors.generator;
    if (!generator || !/^\d{1,15}$/.test(metadata.steps ?? ''))
      throw new Error(`${file} is not a cover-torch training state (a generator and a step count expected)`);
    const steps = Number(metadata.steps);
    const optimizer: Record<string, Tensor> = {};
    for (const [name, tensor] of Object.entries(tensors)) {
      if (name.startsWith('optimizer.')) optimizer[name.slice('optimizer.'.length)] = tensor;
    }
    const native = this.#live();
    await callNative(() => native.loadTrainingState({ optimizer, generator, steps }));
  }

  /**
   * Frees the native model. Calls already made still complete (in order); later calls throw
   * DisposedError. The promise resolves when the earlier calls have settled and the model
   * is being freed on its thread; awaiting it is optional.
   */
  dispose(): Promise<void> {
    const native = this.#native;
    this.#native = undefined;
    return native ? native.dispose() : Promise.resolve();
  }

  [Symbol.dispose](): void {
    void this.dispose();
  }

  /** `await using model = await CoverModel.create(...)`: waits for pending calls on exit. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  #live(): RawModel {
    if (!this.#native) throw new DisposedError();
    return this.#native;
  }

  static {
    // For lib/ modules that add calls on the same native model (the Segmenter); not exported
    // from the package.
    liveNativeModel = (model) => model.#live();
  }
}

/**
 * A model with the weights `tensors` read from `file` (named in messages), built with the
 * options its `metadata` records, overridden by `options`. Internal to lib/.
 */
export async function modelFromTensors(
  file: string,
  tensors: Record<string, Tensor>,
  metadata: Record<string, string>,
  options?: Partial<ModelOptions>,
): Promise<CoverModel> {
  let saved: ModelOptions | undefined;
  if (metadata[MODEL_OPTIONS_METADATA]) {
    try {
      saved = JSON.parse(metadata[MODEL_OPTIONS_METADATA]) as ModelOptions;
    } catch {
      throw new Error(
        `${file}: its metadata "${MODEL_OPTIONS_METADATA}" is not JSON; pass the model options to load()`,
      );
    }
  }
  if (!saved && options?.dims === undefined)
    throw new Error(`${file} does not record its model options; pass them: CoverModel.load(file, { dims: 2, ... })`);
  const chosen = { ...saved, ...options } as ModelOptions;
  let model: CoverModel;
  try {
    model = await CoverModel.create(chosen);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // Say which file's options they were: the same error names no file otherwise.
    const from = saved
      ? `its metadata "${MODEL_OPTIONS_METADATA}"${options ? ' with the options passed to load()' : ''}`
      : 'the options passed to load()';
    throw new ConfigError(error.problems, `${file}: the model options from ${from} are not valid: `, error.fields);
  }
  model.metadata = metadata;
  try {
    await model.loadStateDict(tensors);
  } catch (error) {
    void model.dispose();
    throw new Error(`Cannot load ${file}: ${(error as Error).message}`, { cause: error });
  }
  return model;
}

/**
 * Checks that `tensor` is a float32 batch of images (B, C_in, *S) that a model of `options`
 * takes, each with at least one voxel; the errors name `name`. Internal to lib/.
 */
export function checkImages(options: Pick<ModelOptions, 'dims' | 'inChannels'>, tensor: Tensor, name: string): void {
  const { dims, inChannels = 1 } = options;
  const layout = dims === 2 ? '(B, C, H, W)' : '(B, C, D, H, W)';
  if (tensor.dtype !== 'float32') throw new TypeError(`Expected float32 data for ${name} but received ${tensor.dtype}`);
  if (tensor.shape.length !== dims + 2 || tensor.shape[1] !== inChannels) {
    throw new RangeError(
      `Expected ${name} of shape ${layout} with C = ${inChannels} for this ${dims}D model but received [${tensor.shape.join(', ')}]`,
    );
  }
  if (tensor.shape[0] === 0 || tensor.shape.slice(2).some((side) => side === 0))
    throw new RangeError(
      `Expected ${name} with at least one image of at least one voxel but received [${tensor.shape.join(', ')}]`,
    );
}
