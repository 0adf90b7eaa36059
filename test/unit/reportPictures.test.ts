import { PNG } from 'pngjs';
import { escapeHtml, renderReport } from '../../lib/report/htmlReport';
import {
  CLASS_COLOURS,
  flowPicture,
  grayPicture,
  overlayLabels,
  pcaPicture,
  pngDataUri,
  quantile,
} from '../../lib/report/pictures';

const correlation = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  const n = a.length;
  const mean = (x: ArrayLike<number>) => Array.from(x).reduce((s, v) => s + v, 0) / n;
  const [ma, mb] = [mean(a), mean(b)];
  let [ab, aa, bb] = [0, 0, 0];
  for (let i = 0; i < n; i++) {
    ab += (a[i]! - ma) * (b[i]! - mb);
    aa += (a[i]! - ma) ** 2;
    bb += (b[i]! - mb) ** 2;
  }
  return ab / Math.sqrt(aa * bb);
};
const channel = (rgb: Uint8Array, c: number) => rgb.filter((_, i) => i % 3 === c);

describe('report pictures', () => {
  it('stretch intensities between the 1st and 99th percentile', () => {
    expect(quantile([5, 1, NaN, 3], 0)).toBe(1);
    expect(quantile([5, 1, NaN, 3], 1)).toBe(5);
    const plane = Float32Array.from({ length: 101 }, (_, i) => i);
    const gray = grayPicture(plane, 1, 101);
    expect([gray.rgb[0], gray.rgb[3 * 50], gray.rgb[3 * 100]]).toEqual([0, 128, 255]); // (50 - 1) * 255 / (99 - 1), rounded
    expect(gray.rgb[3 * 50 + 1]).toBe(gray.rgb[3 * 50]); // gray: R = G = B
  });

  it('colour labelled pixels towards their class colour and leave class 0 as it was', () => {
    const base = { rgb: new Uint8Array([100, 100, 100, 100, 100, 100]), height: 1, width: 2 };
    const overlaid = overlayLabels(base, [0, 1], 0.5);
    expect(Array.from(overlaid.rgb)).toEqual([
      100,
      100,
      100,
      ...CLASS_COLOURS[0]!.map((c) => Math.round((100 + c) / 2)),
    ]);
  });

  it('map the first principal components of the features to red and green', () => {
    // Four channels mixing a left-right ramp (variance 4x) and a top-bottom pattern.
    const [height, width] = [20, 30];
    const pixels = height * width;
    const ramp = Float32Array.from({ length: pixels }, (_, p) => 2 * ((p % width) / width - 0.5));
    const rows = Float32Array.from({ length: pixels }, (_, p) => Math.sin(Math.floor(p / width)));
    const mixes = [
      [1, 0.2],
      [0.5, -0.3],
      [-0.7, 0.4],
      [0.2, 0.8],
    ];
    const features = new Float32Array(4 * pixels);
    mixes.forEach(([a, b], c) => {
      for (let p = 0; p < pixels; p++) features[c * pixels + p] = 3 * a! * ramp[p]! + b! * rows[p]!;
    });
    const picture = pcaPicture(features, 4, height, width);
    expect(Math.abs(correlation(channel(picture.rgb, 0), ramp))).toBeGreaterThan(0.98);
    expect(Math.abs(correlation(channel(picture.rgb, 1), rows))).toBeGreaterThan(0.95);
  });

  it('show displacement direction as hue and length as brightness', () => {
    // Right by 2, down by 2, none: red, yellow-green, black.
    const field = [0, 2, 0, 2, 0, 0]; // rows component, then columns component
    const picture = flowPicture(field, 1, 3, 2);
    expect(Array.from(picture.rgb.subarray(0, 3))).toEqual([255, 0, 0]);
    expect(Array.from(picture.rgb.subarray(3, 6))).toEqual([128, 255, 0]);
    expect(Array.from(picture.rgb.subarray(6, 9))).toEqual([0, 0, 0]);
  });

  it('encode pictures as PNG data URIs that decode to the same pixels', () => {
    const rgb = Uint8Array.from({ length: 2 * 3 * 3 }, (_, i) => i * 13);
    const uri = pngDataUri({ rgb, height: 2, width: 3 });
    expect(uri.startsWith('data:image/png;base64,')).toBe(true);
    const png = PNG.sync.read(Buffer.from(uri.slice(22), 'base64'));
    expect([png.height, png.width]).toEqual([2, 3]);
    expect(Array.from(png.data).filter((_, i) => i % 4 !== 3)).toEqual(Array.from(rgb));
  });

  it('render a page with its text escaped', () => {
    expect(escapeHtml(`<a href="x">&'`)).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&#39;');
    const html = renderReport('T <1>', 'sub', [{ title: 'S', table: { header: ['a'], rows: [['<b>']] } }]);
    expect(html).toContain('<title>T &lt;1&gt;</title>');
    expect(html).toContain('<td>&lt;b&gt;</td>');
  });
});
