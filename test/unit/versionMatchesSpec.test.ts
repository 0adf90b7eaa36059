import { versionMatchesSpec } from '../../scripts/libtorch/versionMatchesSpec';

describe('versionMatchesSpec', () => {
  it('matches wildcard pins on the release, ignoring the local flavour label', () => {
    expect(versionMatchesSpec('2.13.0+cpu', 'torch==2.13.*')).toBe(true);
    expect(versionMatchesSpec('2.13.4', 'torch==2.13.*')).toBe(true);
    expect(versionMatchesSpec('2.14.1+cu130', 'torch==2.13.*')).toBe(false);
    expect(versionMatchesSpec('2.1.0', 'torch==2.13.*')).toBe(false);
    expect(versionMatchesSpec('2.130.0', 'torch==2.13.*')).toBe(false);
  });

  it('matches exact pins with zero padding', () => {
    expect(versionMatchesSpec('2.13.0+cpu', 'torch==2.13.0')).toBe(true);
    expect(versionMatchesSpec('2.13.0', 'torch==2.13')).toBe(true);
    expect(versionMatchesSpec('2.13.1', 'torch==2.13.0')).toBe(false);
  });

  it('cannot judge other requirement forms', () => {
    expect(versionMatchesSpec('2.13.0', 'torch>=2.13')).toBeUndefined();
    expect(versionMatchesSpec('2.13.0', '/path/to/torch.whl')).toBeUndefined();
  });
});
