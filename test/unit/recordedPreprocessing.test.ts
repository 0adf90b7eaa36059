import { PREPROCESSING_METADATA, recordedPreprocessing } from '../../lib/encoder/preprocessing';

describe('recordedPreprocessing', () => {
  const withMetadata = (value: string | undefined) =>
    ({ metadata: value === undefined ? {} : { [PREPROCESSING_METADATA]: value } }) as never;

  it('reads what pretraining recorded, and nothing when a file records none', () => {
    expect(recordedPreprocessing(withMetadata('{"dims":3,"sliceAxis":"coronal"}'))).toEqual({
      dims: 3,
      sliceAxis: 'coronal',
    });
    expect(recordedPreprocessing(withMetadata(undefined))).toEqual({});
  });

  it('names the metadata entry that is not JSON', () => {
    expect(() => recordedPreprocessing(withMetadata('{dims: 2'))).toThrow(
      `The weights' metadata "${PREPROCESSING_METADATA}" is not valid JSON`,
    );
  });
});
