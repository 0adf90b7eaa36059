import { Encoder } from '../encoder/Encoder';
import { writeNifti } from '../io/writeNifti';
import { checkOutputFile } from './outputFile';
import { parseCommandArgs } from './commandArgs';

export const FEATURES_USAGE = `Usage: cover-torch features IMAGE --weights RUN --out FILE.nii.gz [options]

Computes dense features of IMAGE (NIfTI, DICOM series folder, PNG, JPEG) with a pretrained
encoder and writes them as a float32 NIfTI on the image's grid (one map per feature
channel, along the 4th dimension). The image is prepared as the run prepared its training
images (intensity normalisation and spacing recorded in final.safetensors), unless
--no-normalize; with a recorded spacing the grid is the resampled one, placed where the
image is. A 2D model encodes a volume slice by slice along the run's slice axis.
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
  if (!/\.nii(\.gz)?$/i.test(args.out))
    throw new Error(`--out ${args.out}: the features are written as NIfTI; expected a name ending in .nii or .nii.gz`);
  await checkOutputFile(args.out, '--out', [
    ['IMAGE', args.image],
    ['--weights', args.weights],
  ]);
  const encoder = await Encoder.load(args.weights);
  try {
    const { features: maps, grid } = await encoder.encode(args.image, {
      levels: args.levels,
      normalize: args.normalize,
      ...(args.window ? { window: args.window } : {}),
    });
    const channels = maps.shape[0]!;
    await writeNifti(args.out, {
      data: maps.data,
      shape: grid.shape,
      channels,
      spacing: grid.spacing,
      affine: grid.affine,
    });
    out(
      `wrote ${args.out}: ${channels} feature maps of [${grid.shape.join(', ')}] (levels ${args.levels.join(', ')})\n`,
    );
    return 0;
  } finally {
    await encoder.dispose();
  }
}
