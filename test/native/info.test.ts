import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { info, getNumThreads, setNumThreads } from '../../lib';

const root = path.resolve(__dirname, '../..');
const cli = path.join(root, 'dist/lib/cli.js');

describe('info', () => {
  it('reports the package, LibTorch, CUDA, threads and binary', () => {
    const report = info();
    expect(report.packageVersion).toBe(require(path.join(root, 'package.json')).version);
    expect(report.libtorch.version).toMatch(/^2\.13\.\d+/);
    expect(['cpu']).toContain(report.libtorch.flavour);
    expect(report.binaryPath).toBe(path.join(root, 'build/Release/cover_torch.node'));
    expect(report.napiVersion).toBe(8);
    expect(report.cuda.available).toBe(false);
    expect(report.cuda.deviceNames).toEqual([]);
    expect(report.threads.intraOp).toBeGreaterThan(0);
  });

  it('has exactly one LibTorch mapped, from the folder it was built against', () => {
    const { libtorch } = info();
    const libDir = path.join(libtorch.folder, 'lib');
    expect(libtorch.loadedLibraries.length).toBeGreaterThan(0);
    for (const library of libtorch.loadedLibraries) expect(path.dirname(library)).toBe(libDir);
    const names = libtorch.loadedLibraries.map((library) => path.basename(library));
    expect(new Set(names).size).toBe(names.length);
  });

  it('sets RUNPATH of the binary to the resolved LibTorch only', () => {
    const readelf = spawnSync('readelf', ['-d', info().binaryPath], { encoding: 'utf8' });
    if (readelf.error) {
      console.warn('readelf is not installed; RUNPATH not checked');
      return;
    }
    const runpaths = readelf.stdout.split('\n').filter((line) => /\((RUNPATH|RPATH)\)/.test(line));
    expect(runpaths).toHaveLength(1);
    expect(runpaths[0]).toContain('(RUNPATH)');
    expect(runpaths[0]).toContain(`[${path.join(info().libtorch.folder, 'lib')}]`);
  });

  it('prints the same report as JSON on the command line', () => {
    const printed = JSON.parse(execFileSync(process.execPath, [cli, 'info', '--json'], { encoding: 'utf8' }));
    const report = info();
    expect(printed).toMatchObject({
      packageVersion: report.packageVersion,
      libtorch: { version: report.libtorch.version },
    });
    expect(execFileSync(process.execPath, [cli, 'info'], { encoding: 'utf8' })).toMatch(
      /^cover-torch \d+\.\d+\.\d+\nLibTorch {4}2\.13/,
    );
  });

  it('answers unknown commands and options with usage and a non-zero exit', () => {
    const unknown = spawnSync(process.execPath, [cli, 'pretrian'], { encoding: 'utf8' });
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command "pretrian"[\s\S]*Usage: cover-torch/);
    expect(unknown.stderr).toContain('did you mean "pretrain"?');
    const badOption = spawnSync(process.execPath, [cli, 'info', '--yaml'], { encoding: 'utf8' });
    expect(badOption.status).toBe(2);
    expect(badOption.stderr).toContain('unknown option --yaml');
    const help = spawnSync(process.execPath, [cli, 'info', '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage: cover-torch info [--json]');
    const version = spawnSync(process.execPath, [cli, '--version'], { encoding: 'utf8' });
    expect(version.status).toBe(0);
    expect(version.stdout).toBe(`${info().packageVersion}\n`);
  });
});

describe('threads', () => {
  it('changes the LibTorch intra-op thread count and validates it', () => {
    const before = getNumThreads();
    try {
      setNumThreads(1);
      expect(getNumThreads()).toBe(1);
      expect(info().threads.intraOp).toBe(1);
    } finally {
      setNumThreads(before);
    }
    expect(() => setNumThreads(0)).toThrow(
      new RangeError('Expected an integer between 1 and 4096 for numThreads but received 0 of type number'),
    );
    expect(() => setNumThreads(2.5)).toThrow(RangeError);
    expect(() => setNumThreads('4' as never)).toThrow(TypeError);
  });

  it('defaults to COVER_TORCH_NUM_THREADS or the number of cores in a new process', () => {
    const probe = `process.stdout.write(String(require(${JSON.stringify(path.join(root, 'dist/lib/index.js'))}).getNumThreads()))`;
    const run = (env: NodeJS.ProcessEnv) =>
      execFileSync(process.execPath, ['-e', probe], { encoding: 'utf8', env: { ...process.env, ...env } });
    expect(run({ COVER_TORCH_NUM_THREADS: '1' })).toBe('1');
    expect(run({ COVER_TORCH_NUM_THREADS: '' })).toBe(String(require('node:os').availableParallelism()));
  });
});
