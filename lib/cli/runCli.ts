import { packageVersion } from '../packageRoot';
import { info } from '../runtime';
import { closest } from '../validate';
import { pretrain } from './pretrain';
import { PRETRAIN_USAGE } from './pretrainArgs';
import { features, FEATURES_USAGE } from './features';
import { plot, PLOT_USAGE } from './plot';
import { probe, PROBE_USAGE } from './probe';
import { register, REGISTER_USAGE } from './register';
import { finetune, FINETUNE_USAGE } from './finetune';
import { evaluate, EVALUATE_USAGE } from './evaluate';

const USAGE = `Usage: cover-torch <command> [options]

Commands:
  pretrain        Pretrain on your images or built-in phantoms (see pretrain --help)
  probe           Score an encoder on brain tissue labels: linear probes of its features,
                  or fine-tuning (--finetune)
  plot RUN        Draw a run's loss curves as an SVG
  features IMAGE  Write an image's dense features (NIfTI) with a pretrained encoder
  register M F    Write the displacement from image M to image F (NIfTI); carry labels
  finetune        Fine-tune a pretrained encoder for segmentation on labelled images
  evaluate SEG    Segment labelled images with a fine-tuned segmenter; Dice and HD95
  info [--json]   Show the package version, LibTorch, CUDA devices, threads and binary
  help            Show this help
  --version       Show the package version`;

/** Commands that take their arguments and print to `out`; an error exits 2 with its message. */
const SIMPLE_COMMANDS: Record<
  string,
  {
    usage: string;
    /** `progress` takes status lines for stderr; `signal` aborts on Ctrl-C (interruptible commands only). */
    run: (
      argv: string[],
      out: (text: string) => void,
      progress: (text: string) => void,
      signal?: AbortSignal,
    ) => Promise<number>;
    /** Ctrl-C asks the command to stop (it saves what it can) instead of killing the process. */
    interruptible?: boolean;
  }
> = {
  probe: { usage: PROBE_USAGE, run: probe },
  plot: { usage: PLOT_USAGE, run: plot },
  features: { usage: FEATURES_USAGE, run: features },
  register: { usage: REGISTER_USAGE, run: register },
  finetune: { usage: FINETUNE_USAGE, run: finetune, interruptible: true },
  evaluate: { usage: EVALUATE_USAGE, run: evaluate },
};

const COMMANDS = ['pretrain', 'probe', 'plot', 'features', 'register', 'finetune', 'evaluate', 'info', 'help'];

const INFO_USAGE = `Usage: cover-torch info [--json]

Shows the package version, the LibTorch the addon runs on (version, flavour, folder, how it
was found, every LibTorch library mapped into the process), CUDA devices, threads and the
path of the loaded binary. --json prints the same as JSON.`;

/**
 * Runs the command line and returns the exit code. Output goes to `out`, errors to `err`.
 */
export async function runCli(
  argv: string[],
  out: (text: string) => void = (text) => process.stdout.write(text),
  err: (text: string) => void = (text) => process.stderr.write(text),
): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    out(`${USAGE}\n`);
    return command === undefined ? 1 : 0;
  }
  if (command === '--version' || command === '-v' || command === 'version') {
    out(`${packageVersion()}\n`);
    return 0;
  }
  if (command === 'info') {
    if (rest.includes('--help') || rest.includes('-h')) {
      out(`${INFO_USAGE}\n`);
      return 0;
    }
    const unknown = rest.filter((arg) => arg !== '--json');
    if (unknown.length > 0) {
      err(`cover-torch info: unknown option ${unknown[0]}; expected only --json\n`);
      return 2;
    }
    const report = info();
    out(rest.includes('--json') ? `${JSON.stringify(report, null, 2)}\n` : formatInfo(report));
    return 0;
  }
  if (command === 'pretrain') {
    if (rest.includes('--help') || rest.includes('-h')) {
      out(`${PRETRAIN_USAGE}\n`);
      return 0;
    }
    const controller = new AbortController();
    const stop = () => controller.abort();
    process.once('SIGINT', stop);
    try {
      const output = { write: err, isTTY: Boolean(process.stderr.isTTY), columns: process.stderr.columns || 100 };
      return await pretrain(rest, output, controller.signal);
    } catch (error) {
      err(`cover-torch pretrain: ${(error as Error).message}\n`);
      return 2;
    } finally {
      process.off('SIGINT', stop);
    }
  }
  const simple = Object.hasOwn(SIMPLE_COMMANDS, command) ? SIMPLE_COMMANDS[command] : undefined;
  if (simple) {
    if (rest.includes('--help') || rest.includes('-h')) {
      out(`${simple.usage}\n`);
      return 0;
    }
    const controller = new AbortController();
    const stop = () => controller.abort();
    if (simple.interruptible) process.once('SIGINT', stop);
    try {
      return await simple.run(rest, out, (line) => err(`${line}\n`), controller.signal);
    } catch (error) {
      err(`cover-torch ${command}: ${(error as Error).message}\n`);
      return 2;
    } finally {
      process.off('SIGINT', stop);
    }
  }
  const guess = closest(command, COMMANDS);
  err(`cover-torch: unknown command "${command}"${guess ? `; did you mean "${guess}"?` : ''}\n\n${USAGE}\n`);
  return 2;
}

function formatInfo(report: ReturnType<typeof info>): string {
  const cuda = report.cuda.available
    ? `available, ${report.cuda.deviceCount} device(s): ${report.cuda.deviceNames.join(', ')}`
    : 'not available';
  return [
    `cover-torch ${report.packageVersion}`,
    `LibTorch    ${report.libtorch.version} (${report.libtorch.flavour}) from ${report.libtorch.source}`,
    `            ${report.libtorch.folder}`,
    `CUDA        ${cuda}`,
    `threads     ${report.threads.intraOp} intra-op, ${report.threads.interOp} inter-op (${report.threads.backend})`,
    `binary      ${report.binaryPath}`,
    '',
  ].join('\n');
}
