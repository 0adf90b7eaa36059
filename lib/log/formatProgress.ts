/** What one progress line shows. */
export interface Progress {
  step: number;
  /** The step the run (re)started from: the rate counts only the steps done since. Default 0. */
  startStep?: number;
  total: number;
  /** Time since the (re)start. */
  elapsedMs: number;
  values: Record<string, number>;
}

/** `[#####.....] 120/300  1.95 it/s  ETA 1m32s  L_vec 3.210 ...` for a terminal of `width`. */
export function formatProgress(progress: Progress, width = 80): string {
  const { step, total, elapsedMs, startStep = 0 } = progress;
  const rate = elapsedMs > 0 ? (step - startStep) / (elapsedMs / 1000) : 0;
  const eta = rate > 0 ? (total - step) / rate : NaN;
  const values = Object.entries(progress.values)
    .map(([key, value]) => `${key} ${value.toFixed(3)}`)
    .join('  ');
  const text = `${step}/${total}  ${rate.toFixed(2)} it/s  ETA ${formatDuration(eta)}  ${values}`;
  const barWidth = Math.max(10, Math.min(30, width - text.length - 3));
  const filled = Math.round((barWidth * Math.min(step, total)) / total);
  return `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}] ${text}`.slice(0, Math.max(width - 1, 20));
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
