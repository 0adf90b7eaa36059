import { typeError } from '../errors';
import { assertTensor, tensor, type Tensor } from '../tensor';
import { refuseUnknownOptions } from '../validate';

/**
 * Resampling by a displacement field, for label propagation and for checking a predicted
 * correspondence: out(x) = image(x + field(x)), positions in voxels of the image grid
 * (array-axis order, like the network's displacement), the same convention as the training
 * warp (align_corners = true: voxel centres at integers, zero displacement is the identity).
 * Outside the grid reads as zero (label 0).
 */

export type WarpMode = 'linear' | 'nearest';

/** Label or intensity tensors warp can resample. */
type Warpable = Tensor<'float32'> | Tensor<'uint8'> | Tensor<'int32'>;
const WARPABLE: readonly string[] = ['float32', 'uint8', 'int32'];

export interface WarpOptions {
  /** `linear` (n-linear interpolation, float32 images) or `nearest` (labels, any dtype). Default `linear`. */
  mode?: WarpMode;
}

/** Resamples `image` (B, C, *S) at x + field(x), `field` (B, n, *S) in voxels. */
export function warp<T extends Warpable>(image: T, field: Tensor<'float32'>, options: WarpOptions = {}): T {
  assertTensor(image, 'image');
  assertTensor(field, 'field');
  if (typeof options !== 'object' || options === null) throw typeError('options', 'an object', options);
  refuseUnknownOptions(options, ['mode'], 'warp');
  if (!WARPABLE.includes(image.dtype))
    throw new TypeError(`Expected a float32, uint8 or int32 image for warp but received ${image.dtype}`);
  const mode = options.mode ?? 'linear';
  if (mode !== 'linear' && mode !== 'nearest')
    throw new RangeError(`Expected mode 'linear' or 'nearest' but received ${String(mode)}`);
  const [batch, channels, ...size] = image.shape as number[];
  const dims = size.length;
  if (dims !== 2 && dims !== 3)
    throw new RangeError(`Expected an image (B, C, H, W) or (B, C, D, H, W) but received [${image.shape.join(', ')}]`);
  const expected = [batch!, dims, ...size];
  if (field.dtype !== 'float32' || field.shape.join() !== expected.join())
    throw new RangeError(
      `Expected a float32 field of shape [${expected.join(', ')}] but received ${field.dtype} [${field.shape.join(', ')}]`,
    );
  if (mode === 'linear' && image.dtype !== 'float32')
    throw new TypeError(`Linear warping needs float32 images; use mode 'nearest' for ${image.dtype} labels`);
  const plane = size.reduce((a, b) => a * b, 1);
  const stride = size.map((_, axis) => size.slice(axis + 1).reduce((a, b) => a * b, 1));
  const out = new (image.data.constructor as Float32ArrayConstructor)(image.data.length);
  const position = new Float64Array(dims);
  const corners = 1 << dims;
  for (let b = 0; b < batch!; ++b) {
    const fieldBase = b * dims * plane;
    for (let voxel = 0; voxel < plane; ++voxel) {
      for (let axis = 0; axis < dims; ++axis) {
        const index = Math.floor(voxel / stride[axis]!) % size[axis]!;
        position[axis] = index + field.data[fieldBase + axis * plane + voxel]!;
      }
      for (let c = 0; c < channels!; ++c) {
        const source = (b * channels! + c) * plane;
        let value = 0;
        if (mode === 'nearest') {
          let offset = 0;
          let inside = true;
          for (let axis = 0; axis < dims; ++axis) {
            const p = Math.round(position[axis]!);
            if (p < 0 || p >= size[axis]!) inside = false;
            offset += p * stride[axis]!;
          }
          value = inside ? (image.data[source + offset] as number) : 0;
        } else {
          // Each of the 2^n neighbours with its weight; those outside the grid add zero.
          for (let corner = 0; corner < corners; ++corner) {
            let weight = 1;
            let offset = 0;
            for (let axis = 0; axis < dims && weight !== 0; ++axis) {
              const low = Math.floor(position[axis]!);
              const upper = (corner >> axis) & 1;
              const p = low + upper;
              const t = position[axis]! - low;
              weight *= upper ? t : 1 - t;
              if (p < 0 || p >= size[axis]!) weight = 0;
              offset += p * stride[axis]!;
            }
            if (weight !== 0) value += weight * (image.data[source + offset] as number);
          }
        }
        out[source + voxel] = value;
      }
    }
  }
  return tensor(out as never, image.shape) as T;
}
