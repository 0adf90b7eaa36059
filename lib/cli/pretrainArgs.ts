import path from 'node:path';
import { parseOptionValue, readConfigFile, setOption } from '../config/loadConfig';
import { ConfigError } from '../config/parseOptions';
import { resolvePretrainConfig, type ResolvedPretrainConfig } from '../config/pretrainConfig';
import { closest } from '../validate';

export const PRETRAIN_USAGE = `Usage: cover-torch pretrain (--demo | --data PATH... | --config FILE) [options]

Pretrains a COVER encoder on your images (--data, or data.sources in --config) or on the
built-in procedural phantoms (--demo). Command-line options override the config file.
Options:
  --config FILE           JSON or YAML configuration (every option, see the README)
  --data PATH...          image files, folders or globs (repeatable): .nii, .nii.gz, DICOM
                          series folders, .png, .jpg
  --demo                  train on built-in phantoms
  --dims 2|3              2D images or 3D volumes (default 2)
  --steps N               training steps (default 300 in 2D, 60 in 3D demo; 2000 on data)
  --out DIR               checkpoints, metrics.jsonl and .csv go here (default runs/<demo|pretrain>-<dims>d)
  --batch-size N          images per step (default 4 in 2D, 1 in 3D)
  --crop N                crop side, a multiple of 16 (default 64/32 demo, 128/64 data)
  --lr X                  peak learning rate of warmup + cosine (default 1e-4)
  --checkpoint-every N    steps between checkpoints (default 50)
  --seed N                seed of weights, data and views (default 0)
  --device D              cpu, cuda, cuda:N or auto (default cpu)
  --set KEY=VALUE         any option by its config path, e.g. --set training.views.degree=0.3
  --resume                continue from the latest checkpoint in --out
  --print-config          print the resolved configuration (YAML) and exit
  --check-data            read every image once as the run would, list those that fail, and exit
  --log-level LEVEL       debug, info, warn, error or silent (default info)`;

/** A run's configuration, and the switches that make the command do something else than train. */
export type PretrainArgs = ResolvedPretrainConfig & {
  /** Print the configuration and exit. */
  printConfig: boolean;
  /** Read every image once, report the ones that fail, and exit. */
  checkData: boolean;
};

/** Flags that are shorthands for one configuration field. */
const FIELD_OF_FLAG: Record<string, string> = {
  dims: 'dims',
  steps: 'steps',
  out: 'out',
  'batch-size': 'batchSize',
  lr: 'learningRate',
  'checkpoint-every': 'checkpointEvery',
  seed: 'seed',
  device: 'model.device',
  'log-level': 'logLevel',
};
const SWITCHES = ['demo', 'resume', 'print-config', 'check-data'];
const KNOWN = [...SWITCHES, ...Object.keys(FIELD_OF_FLAG), 'config', 'data', 'crop', 'set'];

/**
 * Turns `pretrain` arguments into a validated configuration: the config file first, then
 * each flag as an override. An invalid value's message names the field and the flag it
 * came from.
 */
export async function parsePretrainArgs(argv: string[], cwd = process.cwd()): Promise<PretrainArgs> {
  const flags: Array<[string, string | true]> = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument "${arg}"\n\n${PRETRAIN_USAGE}`);
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    if (!KNOWN.includes(name)) {
      const guess = closest(name, KNOWN);
      throw new Error(`unknown option --${name}${guess ? `; did you mean --${guess}?` : ''}\n\n${PRETRAIN_USAGE}`);
    }
    if (SWITCHES.includes(name)) {
      // "--resume=false" must not resume.
      if (inline !== undefined) throw new Error(`--${name} takes no value (it is a switch), got "--${name}=${inline}"`);
      flags.push([name, true]);
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`--${name} needs a value`);
    flags.push([name, value]);
    // An unquoted glob (--data scans/*.nii.gz) reaches us expanded by the shell: the paths
    // after --data, up to the next option, are its sources too.
    if (name === 'data' && inline === undefined)
      while (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) flags.push([name, argv[++i]!]);
  }

  const given = (flag: string) => flags.filter(([name]) => name === flag).length;
  if (given('config') > 1) throw new Error('--config given twice; one configuration file per run');
  if (given('demo') > 0 && given('data') > 0)
    throw new Error('--demo and --data exclude each other: train on the demo phantoms or on your images');
  const configFile = flags.find(([name]) => name === 'config')?.[1] as string | undefined;
  let config: Record<string, unknown> = configFile ? await readConfigFile(path.resolve(cwd, configFile)) : {};
  const origins = new Map<string, string>();
  const set = (field: string, value: unknown, flag: string) => {
    config = setOption(config, field, value);
    origins.set(field, flag);
  };
  // --demo and --data each replace the other's choice from the config file.
  const dataSources = flags.filter(([name]) => name === 'data').map(([, value]) => value as string);
  if (dataSources.length > 0) {
    set('data.sources', dataSources, '--data');
    if (config.demo === true) delete config.demo;
  }
  for (const [name, value] of flags) {
    if (name === 'demo') {
      set('demo', true, '--demo');
      delete config.data;
    } else if (name === 'resume') set('resume', true, '--resume');
    else if (name === 'set') {
      const [field, raw] = (value as string).split(/=(.*)/s, 2);
      if (!field || raw === undefined)
        throw new Error(`--set expects KEY=VALUE, e.g. training.views.degree=0.3, got "${String(value)}"`);
      set(field, parseOptionValue(raw), `--set ${field}`);
    } else if (FIELD_OF_FLAG[name]) {
      const verbatim = name === 'out' || name === 'device';
      set(FIELD_OF_FLAG[name], verbatim ? value : parseOptionValue(value as string), `--${name}`);
    }
  }
  // After the other flags, which may set dims; the last --crop counts, as for every flag.
  const crop = flags.filter(([name]) => name === 'crop').at(-1)?.[1];
  if (crop !== undefined) {
    const dims = config.dims === 3 ? 3 : 2;
    set('training.cropSize', new Array<unknown>(dims).fill(parseOptionValue(crop as string)), '--crop');
  }

  // Relative data paths in a config file are relative to the file, like most tools' configs;
  // those given on the command line (--data, --set data.sources=..., --set data={...}) to the working folder.
  const sourcesFromFlags = origins.has('data.sources') || origins.has('data');
  const base = configFile && !sourcesFromFlags ? path.dirname(path.resolve(cwd, configFile)) : cwd;
  const origin = configFile ? `configuration (${configFile} and the command line)` : 'command line';
  try {
    const resolved = resolvePretrainConfig(config, origin);
    return {
      ...resolved,
      printConfig: flags.some(([name]) => name === 'print-config'),
      checkData: flags.some(([name]) => name === 'check-data'),
      out: path.resolve(cwd, resolved.out),
      data: resolved.data && {
        ...resolved.data,
        sources: resolved.data.sources.map((source) => (path.isAbsolute(source) ? source : path.join(base, source))),
      },
    };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // Say which flag a bad value came from.
    const problems = error.problems.map((problem, i) => {
      const field = error.fields[i] ?? '';
      const flag = [...origins].find(
        ([key]) => field === key || field.startsWith(`${key}.`) || field.startsWith(`${key}[`),
      );
      return flag ? `${problem} (from ${flag[1]})` : problem;
    });
    throw new ConfigError(problems, `Invalid ${origin}: `, error.fields);
  }
}
