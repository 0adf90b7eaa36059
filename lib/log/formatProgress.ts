/** What one progress line shows. */
export interface Progress {
  step: number;
  total: number;
  elapsedMs: number;
  values: Record<string, number>;
}

/** `[#####.....] 120/300  1.95 it/s  ETA 1m32s  L_vec 3.210 ...` for a terminal of `width`. */
export function formatProgress(progress: Progress, width = 80): string {
  const { step, total, elapsedMs } = progress;
  const rate = elapsedMs > 0 ? step / (elapsedMs / 1000) : 0;
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
