import type { ImageVolume } from '../data/image';
import { writeNifti } from '../io/writeNifti';
import { CoverModel } from '../model/CoverModel';
import { tensor } from '../tensor';
import { parseCommandArgs } from './commandArgs';
import { planesAcross, SLICE_AXIS } from './labelledImages';
import { readPrepared, recordedPreprocessing } from './prepareImage';

export const FEATURES_USAGE = `Usage: cover-torch features IMAGE --weights RUN --out FILE.nii.gz [options]

Computes dense features of IMAGE (NIfTI, DICOM series folder, PNG, JPEG) with a pretrained
encoder and writes them as a float32 NIfTI on the image's grid (one map per feature
channel, along the 4th dimension). The image is prepared as the run prepared its training
images (intensity normalisation and spacing recorded in final.safetensors), unless
--no-normalize. A 2D model encodes a volume slice by slice along the run's slice axis.
Options:
  --weights PATH   run folder, checkpoint folder or .safetensors file (required)
  --out FILE       .nii or .nii.gz to write (required)
  --levels LIST    decoder levels to write, upsampled to the image grid, e.g. 1 or 1,3,4
                   (default 1: F1, 32 channels; all five are 992 channels per voxel)
  --window N       encode in overlapping N-voxel tiles (bounded memory for large volumes)
  --no-normalize   use the intensities as they are`;

interface FeaturesArgs {
  image: string;
  weights: string;
  out: string;
  levels: number[];
  window: number | undefined;
  normalize: boolean;
}

function parseFeaturesArgs(argv: string[]): FeaturesArgs {
  const args = parseCommandArgs(argv, FEATURES_USAGE, {
    values: ['--weights', '--out', '--levels', '--window'],
    flags: ['--no-normalize'],
    required: ['--weights', '--out'],
    positional: 1,
    positionalName: 'IMAGE',
  });
  const levels = (args.value('--levels') ?? '1').split(',').map(Number);
  if (levels.some((l) => !Number.isInteger(l) || l < 1 || l > 5) || new Set(levels).size !== levels.length)
    throw new Error(`Expected distinct levels between 1 and 5 for --levels but received "${args.value('--levels')}"`);
  return {
    image: args.positional[0]!,
    weights: args.value('--weights')!,
    out: args.value('--out')!,
    levels,
    window: args.tileSide('--window'),
    normalize: !args.flag('--no-normalize'),
  };
}

/** Runs `cover-torch features`; returns the exit code. */
export async function features(argv: string[], out: (text: string) => void): Promise<number> {
  const args = parseFeaturesArgs(argv);
  const model = await CoverModel.load(args.weights);
  try {
    const preprocessing = recordedPreprocessing(model);
    const volume = await readPrepared(args.image, preprocessing, args.normalize);
    const maps = await encodeVolume(model, volume, args, SLICE_AXIS[preprocessing.sliceAxis ?? 'axial'] ?? 0);
    await writeNifti(args.out, {
      data: maps.data,
      shape: volume.shape,
      channels: maps.channels,
      spacing: volume.spacing,
      affine: volume.affine,
    });
    out(
      `wrote ${args.out}: ${maps.channels} feature maps of [${volume.shape.join(', ')}] (levels ${args.levels.join(', ')})\n`,
    );
    return 0;
  } finally {
    await model.dispose();
  }
}

/** The chosen levels at full resolution, channel-first over the volume's grid. */
async function encodeVolume(
  model: CoverModel,
  volume: ImageVolume,
  args: FeaturesArgs,
  sliceAxis: number,
): Promise<{ data: Float32Array; channels: number }> {
  const options = { fullResolution: true, ...(args.window ? { window: args.window } : {}) };
  const pick = (levels: { data: Float32Array; shape: readonly number[] }[]) => args.levels.map((l) => levels[l - 1]!);
  if (model.options.dims === volume.shape.length) {
    const levels = pick(await model.encode(tensor(volume.data, [1, 1, ...volume.shape]), options));
    const channels = levels.reduce((sum, level) => sum + level.shape[1]!, 0);
    const data = new Float32Array(channels * volume.data.length);
    levels.reduce((offset, level) => (data.set(level.data, offset), offset + level.data.length), 0);
    return { data, channels };
  }
  if (model.options.dims !== 2 || volume.shape.length !== 3)
    throw new Error(`a ${model.options.dims}D model cannot encode a ${volume.shape.length}D image`);
  // Slice by slice along the run's slice axis, each slice's maps put back into the volume.
  const { count, rows, columns, at } = planesAcross(volume.shape as [number, number, number], sliceAxis);
  let data: Float32Array | undefined;
  let channels = 0;
  const voxels = volume.data.length;
  const slice = new Float32Array(rows * columns);
  for (let s = 0; s < count; ++s) {
    for (let u = 0; u < rows; ++u) for (let v = 0; v < columns; ++v) slice[u * columns + v] = volume.data[at(s, u, v)]!;
    const levels = pick(await model.encode(tensor(slice, [1, 1, rows, columns]), options));
    channels = levels.reduce((sum, level) => sum + level.shape[1]!, 0);
    data ??= new Float32Array(channels * voxels);
    let c = 0;
    for (const level of levels)
      for (let k = 0; k < level.shape[1]!; ++k, ++c)
        for (let u = 0; u < rows; ++u)
          for (let v = 0; v < columns; ++v) data[c * voxels + at(s, u, v)] = level.data[(k * rows + u) * columns + v]!;
  }
  return { data: data!, channels };
}
