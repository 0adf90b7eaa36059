import type { ResolvedPretrainConfig } from '../config/pretrainConfig';
import { ImageDataset, type DatasetCheck } from '../data/dataset/ImageDataset';
import type { Logger } from '../log/logger';

/** How often a long check says how far it is. */
const PROGRESS_EVERY_MS = 5000;

/** The images a run with this configuration draws from, prepared as it prepares them. */
export async function openRunDataset(config: ResolvedPretrainConfig, logger: Logger): Promise<ImageDataset> {
  const data = config.data;
  if (!data) throw new Error('this run trains on the demo phantoms; it has no images to open');
  return ImageDataset.fromSources(data.sources, {
    normalize: data.normalize,
    ...(data.spacing ? { spacing: data.spacing } : {}),
    onError: data.onError,
    cacheSize: data.cacheSize,
    maxVoxels: data.maxVoxels,
    volumesOnly: config.dims === 3,
    logger,
  });
}

/**
 * `pretrain --check-data`: reads every image of the run once, as training would (resampled,
 * checked, normalised), so that a broken file among thousands is found before a long run
 * stops at it. Each failing file goes to stdout as its error message, one per line; the
 * summary goes to the log. Returns the exit code: 0 when every image reads, 1 otherwise,
 * 130 when interrupted.
 */
export async function checkRunData(
  config: ResolvedPretrainConfig,
  logger: Logger,
  signal: AbortSignal | undefined,
): Promise<number> {
  if (!config.data)
    throw new Error(
      '--check-data checks the images of --data (or data.sources in --config); the demo phantoms need no check',
    );
  const dataset = await openRunDataset(config, logger);
  const started = Date.now();
  let reported = started;
  logger.info(`checking ${dataset.size} image${dataset.size === 1 ? '' : 's'} as a ${config.dims}D run reads them`);
  let check: DatasetCheck;
  try {
    check = await dataset.verify({
      ...(signal ? { signal } : {}),
      onProgress: (done, total, failed) => {
        if (Date.now() - reported < PROGRESS_EVERY_MS || done === total) return;
        reported = Date.now();
        logger.info(`checked ${done}/${total}`, { failed_so_far: failed });
      },
    });
  } catch (error) {
    if (!signal?.aborted || error !== signal.reason) throw error;
    logger.warn('interrupted: the check did not finish');
    return 130;
  }
  for (const failure of check.failed) process.stdout.write(`${oneLine(failure.message)}\n`);
  logger.info('checked', {
    images: dataset.size,
    readable: check.readable,
    failed: check.failed.length,
    seconds: Math.round((Date.now() - started) / 100) / 10,
    ...(check.shape ? { shape: range(check.shape, 'x', '', (size) => String(size)) } : {}),
    ...(check.spacing
      ? { spacing: range(check.spacing, ' x ', ' mm', (mm) => String(Number(mm.toPrecision(4)))) }
      : {}),
  });
  if (check.failed.length === 0) return 0;
  if (check.readable === 0) logger.error('no image reads: a run would stop at its first step');
  else if (config.data.onError === 'skip')
    logger.warn(`a run would pass over the ${check.failed.length} listed (data.onError is skip)`);
  else
    logger.error(
      `a run would stop at the first of the ${check.failed.length} listed that it draws: replace or remove them, or train without them with --set data.onError=skip`,
    );
  return 1;
}

/** "181x217x181", or "160x192x160 to 181x217x181" when the images differ (sizes whole, mm to 4 digits). */
function range(
  extent: { min: number[]; max: number[] },
  separator: string,
  unit: string,
  format: (value: number) => string,
): string {
  const text = (values: number[]) => values.map(format).join(separator) + unit;
  const [low, high] = [text(extent.min), text(extent.max)];
  return low === high ? low : `${low} to ${high}`;
}

/** A reader's message on one line, so that each failing file is one line of the report. */
function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, ' ');
}
