import { PNG } from 'pngjs';

/**
 * Pictures of planes for the evaluation report: gray images, label overlays, PCA colour
 * maps of features and colour-coded displacement fields, as RGB bytes (3 per pixel, row
 * major) and PNG data URIs.
 */

/** An RGB picture: 3 bytes per pixel, rows of `width` pixels. */
export interface Picture {
  rgb: Uint8Array;
  height: number;
  width: number;
}

/** The value below which `fraction` of the finite values lie (sorted copy; NaN ignored). */
export function quantile(values: ArrayLike<number>, fraction: number): number {
  const finite = Float64Array.from(values).filter(Number.isFinite).sort();
  if (finite.length === 0) return 0;
  return finite[Math.min(finite.length - 1, Math.max(0, Math.floor(fraction * (finite.length - 1))))]!;
}

/** Intensities to gray, the 1st to 99th percentile stretched over 0..255. */
export function grayPicture(plane: ArrayLike<number>, height: number, width: number): Picture {
  const low = quantile(plane, 0.01);
  const high = quantile(plane, 0.99);
  const scale = high > low ? 255 / (high - low) : 0;
  const rgb = new Uint8Array(height * width * 3);
  for (let p = 0; p < height * width; p++) {
    const value = Math.round(Math.min(255, Math.max(0, (plane[p]! - low) * scale)));
    rgb.fill(value, 3 * p, 3 * p + 3);
  }
  return { rgb, height, width };
}

/** Colours of classes 1, 2, ... (class 0, background, stays uncoloured); repeats after 8. */
export const CLASS_COLOURS: readonly (readonly [number, number, number])[] = [
  [230, 25, 75],
  [60, 180, 75],
  [0, 130, 200],
  [255, 225, 25],
  [245, 130, 48],
  [145, 30, 180],
  [70, 240, 240],
  [240, 50, 230],
];

/** `base` with each labelled pixel (label > 0) blended towards its class colour. */
export function overlayLabels(base: Picture, labels: ArrayLike<number>, opacity = 0.5): Picture {
  const rgb = Uint8Array.from(base.rgb);
  for (let p = 0; p < base.height * base.width; p++) {
    const label = labels[p]!;
    if (!(label > 0)) continue;
    const colour = CLASS_COLOURS[(label - 1) % CLASS_COLOURS.length]!;
    for (let c = 0; c < 3; c++) rgb[3 * p + c] = Math.round((1 - opacity) * rgb[3 * p + c]! + opacity * colour[c]!);
  }
  return { rgb, height: base.height, width: base.width };
}

/**
 * The first three principal components of per-pixel features as red, green and blue:
 * pixels with similar features get similar colours. `features` is (C, H, W); each component
 * is stretched from its 1st to its 99th percentile. Power iteration with deflation on the
 * C x C covariance (C is a few dozen).
 */
export function pcaPicture(features: ArrayLike<number>, channels: number, height: number, width: number): Picture {
  const pixels = height * width;
  const mean = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    let sum = 0;
    for (let p = 0; p < pixels; p++) sum += features[c * pixels + p]!;
    mean[c] = sum / pixels;
  }
  const covariance = new Float64Array(channels * channels);
  for (let a = 0; a < channels; a++)
    for (let b = a; b < channels; b++) {
      let sum = 0;
      for (let p = 0; p < pixels; p++)
        sum += (features[a * pixels + p]! - mean[a]!) * (features[b * pixels + p]! - mean[b]!);
      covariance[a * channels + b] = covariance[b * channels + a] = sum / pixels;
    }
  const rgb = new Uint8Array(pixels * 3);
  for (let component = 0; component < Math.min(3, channels); component++) {
    const vector = topEigenvector(covariance, channels);
    const eigenvalue = rayleigh(covariance, vector, channels);
    // Deflate so the next iteration finds the next component.
    for (let a = 0; a < channels; a++)
      for (let b = 0; b < channels; b++)
        covariance[a * channels + b] = covariance[a * channels + b]! - eigenvalue * vector[a]! * vector[b]!;
    const projected = new Float64Array(pixels);
    for (let p = 0; p < pixels; p++) {
      let sum = 0;
      for (let c = 0; c < channels; c++) sum += (features[c * pixels + p]! - mean[c]!) * vector[c]!;
      projected[p] = sum;
    }
    const low = quantile(projected, 0.01);
    const high = quantile(projected, 0.99);
    const scale = high > low ? 255 / (high - low) : 0;
    for (let p = 0; p < pixels; p++)
      rgb[3 * p + component] = Math.round(Math.min(255, Math.max(0, (projected[p]! - low) * scale)));
  }
  return { rgb, height, width };
}

function topEigenvector(matrix: Float64Array, n: number): Float64Array {
  // A fixed, non-symmetric start so that results do not depend on randomness.
  let vector = Float64Array.from({ length: n }, (_, i) => 1 + i / n);
  for (let iteration = 0; iteration < 200; iteration++) {
    const next = new Float64Array(n);
    for (let a = 0; a < n; a++) {
      let sum = 0;
      for (let b = 0; b < n; b++) sum += matrix[a * n + b]! * vector[b]!;
      next[a] = sum;
    }
    const norm = Math.hypot(...next);
    if (norm === 0) return vector.map(() => 0);
    vector = next.map((v) => v / norm);
  }
  return vector;
}

function rayleigh(matrix: Float64Array, vector: Float64Array, n: number): number {
  let sum = 0;
  for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) sum += vector[a]! * matrix[a * n + b]! * vector[b]!;
  return sum;
}

/**
 * A 2D displacement field (2, H, W) (rows then columns, voxels) as colours: the direction
 * is the hue (right red, down yellow-green, left cyan, up blue-violet), the length is the
 * brightness, full at `maxLength` voxels.
 */
export function flowPicture(field: ArrayLike<number>, height: number, width: number, maxLength: number): Picture {
  const pixels = height * width;
  const rgb = new Uint8Array(pixels * 3);
  for (let p = 0; p < pixels; p++) {
    const dy = field[p]!;
    const dx = field[pixels + p]!;
    const hue = ((Math.atan2(dy, dx) / (2 * Math.PI) + 1) % 1) * 6;
    const value = Math.min(1, Math.hypot(dx, dy) / maxLength);
    const [r, g, b] = hueToRgb(hue);
    rgb[3 * p] = Math.round(255 * value * r);
    rgb[3 * p + 1] = Math.round(255 * value * g);
    rgb[3 * p + 2] = Math.round(255 * value * b);
  }
  return { rgb, height, width };
}

/** Fully saturated colour of hue h in [0, 6). */
function hueToRgb(h: number): [number, number, number] {
  const x = 1 - Math.abs((h % 2) - 1);
  if (h < 1) return [1, x, 0];
  if (h < 2) return [x, 1, 0];
  if (h < 3) return [0, 1, x];
  if (h < 4) return [0, x, 1];
  if (h < 5) return [x, 0, 1];
  return [1, 0, x];
}

/** The picture as a PNG data URI, for an `<img src>` of a self-contained page. */
export function pngDataUri(picture: Picture): string {
  const png = new PNG({ width: picture.width, height: picture.height });
  for (let p = 0; p < picture.width * picture.height; p++) {
    png.data[4 * p] = picture.rgb[3 * p]!;
    png.data[4 * p + 1] = picture.rgb[3 * p + 1]!;
    png.data[4 * p + 2] = picture.rgb[3 * p + 2]!;
    png.data[4 * p + 3] = 255;
  }
  return `data:image/png;base64,${PNG.sync.write(png).toString('base64')}`;
}
