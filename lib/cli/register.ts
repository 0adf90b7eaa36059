import path from 'node:path';
import { planeShape, type ImageVolume } from '../data/image';
import { warp } from '../encoder/warp';
import { writeNifti } from '../io/writeNifti';
import { CoverModel } from '../model/CoverModel';
import { tensor, type Tensor } from '../tensor';
import { parseCommandArgs } from './commandArgs';
import { checkOutputFile } from './outputFile';
import { normalizeAsRecorded, prepareImage, recordedPreprocessing } from '../encoder/preprocessing';
import { checkSameGrid, classesOf, readLabelMap } from './labelMaps';

export const REGISTER_USAGE = `Usage: cover-torch register MOVING FIXED --weights RUN --out FIELD.nii.gz [options]

Predicts, with a pretrained encoder's vector pyramid, the dense displacement that carries
MOVING onto FIXED and writes it as a float32 NIfTI on FIXED's grid (resampled to the
run's voxel size when it recorded one): one map per array axis along the 4th dimension
([H, W] order for 2D images, [D, H, W] for volumes), in voxels, such that
fixed(x) ~ moving(x + field(x)). Both images (NIfTI, DICOM series folder, PNG,
JPEG) are prepared as the run prepared its training images, unless --no-normalize, and
must have one shape (their world placement is not used: the outputs carry FIXED's); the
model's dims must be the images' (a 2D model registers 2D images, a one-slice NIfTI too).
Options:
  --weights PATH      run folder, checkpoint folder or .safetensors file (required)
  --out FILE          the displacement field, .nii or .nii.gz (required)
  --warped FILE       also write MOVING warped onto FIXED (its own intensities, linear
                      interpolation)
  --labels FILE       a label map on MOVING's grid to carry onto FIXED (nearest neighbour)
  --labels-out FILE   where to write the carried labels (required with --labels)
  --no-normalize      use the intensities as they are`;

interface RegisterArgs {
  moving: string;
  fixed: string;
  weights: string;
  out: string;
  warped?: string;
  labels?: string;
  labelsOut?: string;
  normalize: boolean;
}

function parseRegisterArgs(argv: string[]): RegisterArgs {
  const args = parseCommandArgs(argv, REGISTER_USAGE, {
    values: ['--weights', '--out', '--warped', '--labels', '--labels-out'],
    flags: ['--no-normalize'],
    required: ['--weights', '--out'],
    positional: 2,
    positionalName: 'MOVING, FIXED',
  });
  if (Boolean(args.value('--labels')) !== Boolean(args.value('--labels-out')))
    throw new Error('--labels and --labels-out go together: the labels to carry and where to write them');
  const parsed: RegisterArgs = {
    moving: args.positional[0]!,
    fixed: args.positional[1]!,
    weights: args.value('--weights')!,
    out: args.value('--out')!,
    warped: args.value('--warped'),
    labels: args.value('--labels'),
    labelsOut: args.value('--labels-out'),
    normalize: !args.flag('--no-normalize'),
  };
  return parsed;
}

/**
 * Each output is a NIfTI file of its own, in a folder that exists: not another output (the
 * later write would replace the earlier one) and not one of the inputs (they would be
 * overwritten). Checked before the model loads.
 */
async function checkOutputs(args: RegisterArgs): Promise<void> {
  const outputs: [string, string | undefined][] = [
    ['--out', args.out],
    ['--warped', args.warped],
    ['--labels-out', args.labelsOut],
  ];
  const inputs: [string, string | undefined][] = [
    ['MOVING', args.moving],
    ['FIXED', args.fixed],
    ['--labels', args.labels],
    ['--weights', args.weights],
  ];
  const seen = new Map<string, string>();
  for (const [flag, file] of outputs) {
    if (file === undefined) continue;
    if (!/\.nii(\.gz)?$/i.test(file))
      throw new Error(`${flag} ${file}: outputs are NIfTI files; expected a name ending in .nii or .nii.gz`);
    await checkOutputFile(file, flag, inputs);
    const resolved = path.resolve(file);
    const earlier = seen.get(resolved);
    if (earlier) throw new Error(`${flag} and ${earlier} both name ${file}: each output needs its own file`);
    seen.set(resolved, flag);
  }
}

/** Runs `cover-torch register`; returns the exit code. */
export async function register(argv: string[], out: (text: string) => void): Promise<number> {
  const args = parseRegisterArgs(argv);
  await checkOutputs(args);
  const model = await CoverModel.load(args.weights);
  try {
    const preprocessing = recordedPreprocessing(model);
    const dims = model.options.dims;
    // Resampled as the run did, intensities as they are: the warped image keeps them. The
    // network sees them normalised as the run normalised its images.
    const [moving, fixed] = (await Promise.all(
      [args.moving, args.fixed].map((file) => prepareImage(file, preprocessing, false)),
    )) as [ImageVolume, ImageVolume];
    const shape = planeShape(fixed.shape);
    if (planeShape(moving.shape).join() !== shape.join())
      throw new Error(
        `${args.moving} has shape [${moving.shape.join(', ')}] but ${args.fixed} has [${fixed.shape.join(', ')}]; resample both to one grid first`,
      );
    if (shape.length !== dims)
      throw new Error(`a ${dims}D model registers ${dims}D images, but ${args.fixed} is ${shape.length}D`);
    const asTrained = (volume: ImageVolume) => (args.normalize ? normalizeAsRecorded(volume, preprocessing) : volume);
    const field = await model.correspond(
      tensor(asTrained(moving).data, [1, 1, ...shape]),
      tensor(asTrained(fixed).data, [1, 1, ...shape]),
    );
    const onFixedGrid = { shape, spacing: fixed.spacing, affine: fixed.affine };
    await writeNifti(args.out, { ...onFixedGrid, data: field.data, channels: dims });
    const lines = [`wrote ${args.out}: displacement of [${shape.join(', ')}], ${describeField(field.data, dims)}`];
    if (args.warped) {
      const movingImage = tensor(moving.data, [1, 1, ...shape]) as Tensor<'float32'>;
      await writeNifti(args.warped, { ...onFixedGrid, data: warp(movingImage, field).data });
      lines.push(`wrote ${args.warped}: ${args.moving} warped onto ${args.fixed}`);
    }
    if (args.labels && args.labelsOut) {
      const labelMap = await readLabelMap(args.labels, preprocessing);
      checkSameGrid(labelMap, args.labels, moving, args.moving, preprocessing);
      const labels = tensor(classesOf(labelMap.data, args.labels), [1, 1, ...shape]) as Tensor<'int32'>;
      const carried = warp(labels, field, { mode: 'nearest' });
      await writeNifti(args.labelsOut, { ...onFixedGrid, data: Float32Array.from(carried.data) });
      lines.push(`wrote ${args.labelsOut}: labels of ${args.labels} carried onto ${args.fixed}`);
    }
    out(`${lines.join('\n')}\n`);
    return 0;
  } finally {
    await model.dispose();
  }
}

/** Mean and largest displacement length, in voxels. */
function describeField(data: Float32Array, dims: number): string {
  const voxels = data.length / dims;
  let sum = 0;
  let max = 0;
  for (let i = 0; i < voxels; i++) {
    let squared = 0;
    for (let axis = 0; axis < dims; axis++) squared += data[axis * voxels + i]! ** 2;
    const length = Math.sqrt(squared);
    sum += length;
    max = Math.max(max, length);
  }
  return `mean length ${(sum / voxels).toFixed(2)} voxels, largest ${max.toFixed(2)}`;
}
