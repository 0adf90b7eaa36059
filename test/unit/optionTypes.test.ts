import fs from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import type { CoverModel } from '../../lib/model/CoverModel';
import type { ModelOptions, ModelOptionsInput } from '../../lib/model/modelOptions';
import type {
  OptimizerOptions,
  TrainingOptions,
  TrainingOptionsInput,
  ViewOptions,
  optimizerOptionsSchema,
  viewOptionsSchema,
} from '../../lib/model/trainingOptions';
import type { DataOptions, DataOptionsInput } from '../../lib/config/dataOptions';
import type { PretrainConfig, PretrainConfigInput } from '../../lib/config/pretrainConfig';
import type { SegmenterOptions, segmenterOptionsSchema } from '../../lib/segment/segmenterOptions';

/**
 * The public option types are written by hand so that their documentation reaches the
 * emitted declarations (types inferred from zod schemas lose it). These checks keep each
 * equal to what its schema accepts: a field added, removed or retyped on one side only
 * stops the compilation of this file.
 */
type Assignable<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** Each assignable to the other, with the same keys (an extra optional field would pass the first test alone). */
type Exact<A, B> = Assignable<A, B> extends true ? Assignable<keyof A, keyof B> : false;
const checks: [
  Exact<ModelOptions, ModelOptionsInput>,
  Exact<ViewOptions, z.input<typeof viewOptionsSchema>>,
  Exact<OptimizerOptions, z.input<typeof optimizerOptionsSchema>>,
  // The crop is a tuple of the model's dims, narrower than the schema's array on purpose.
  Exact<Omit<TrainingOptions, 'cropSize'>, Omit<TrainingOptionsInput, 'cropSize'>>,
  Assignable<TrainingOptions['cropSize'] extends TrainingOptionsInput['cropSize'] ? true : false, true>,
  Exact<DataOptions, DataOptionsInput>,
  Exact<PretrainConfig, PretrainConfigInput>,
  Exact<SegmenterOptions, z.input<typeof segmenterOptionsSchema>>,
] = [true, true, true, true, true, true, true, true];

describe('option types', () => {
  it('equal what their schemas accept (checked at compile time)', () => {
    expect(checks).toEqual([true, true, true, true, true, true, true, true]);
    // @ts-expect-error: a field the schema does not know is a compile error
    const wrong: Exact<ViewOptions & { extra?: number }, z.input<typeof viewOptionsSchema>> = true;
    void wrong;
  });

  it('tie the crop size to the model dims (checked at compile time)', () => {
    // Never called: the compiler checks the calls.
    const calls = async (create: typeof CoverModel.create, anyDims: CoverModel) => {
      const flat = await create({ dims: 2 });
      flat.configureTraining({ cropSize: [64, 64] });
      // @ts-expect-error: a 2D model takes two sides
      flat.configureTraining({ cropSize: [64, 64, 64] });
      const deep = await create({ dims: 3 });
      deep.configureTraining({ cropSize: [64, 64, 64] });
      // @ts-expect-error: a 3D model takes three sides
      deep.configureTraining({ cropSize: [64, 64] });
      // dims unknown (a loaded model): either form compiles; the model checks it at run time.
      anyDims.configureTraining({ cropSize: [64, 64] });
      anyDims.configureTraining({ cropSize: [64, 64, 64] });
    };
    expect(typeof calls).toBe('function');
  });

  it('carry their documentation into the emitted declarations', () => {
    const dist = path.join(__dirname, '..', '..', 'dist', 'lib', 'model');
    const training = fs.readFileSync(path.join(dist, 'trainingOptions.d.ts'), 'utf8');
    expect(training).toMatch(/Transform strength g[^*]*(\*(?!\/)[^*]*)*\*\/\s*degree\?: number;/);
    expect(training).toMatch(
      /\/\*\* Maximum global gradient norm; 0 disables clipping\. Default 1\. \*\/\s*gradClip\?: number;/,
    );
    const config = fs.readFileSync(path.join(dist, '..', 'config', 'pretrainConfig.d.ts'), 'utf8');
    expect(config).toMatch(/\/\*\* Images per step\. Default 4 in 2D, 1 in 3D\. \*\/\s*batchSize\?: number;/);
    const model = fs.readFileSync(path.join(dist, 'modelOptions.d.ts'), 'utf8');
    expect(model).toMatch(/\/\*\* Channels per MoV head\. Default 8\. \*\/\s*headDim\?: number;/);
  });
});
