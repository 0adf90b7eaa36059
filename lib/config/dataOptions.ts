import type { z } from 'zod';
import { normalizationSchema, type NormalizeSpec } from '../data/image/normalize';
import { DEFAULT_MAX_VOXELS } from '../data/image/voxelLimit';
import { choice, integer, list, number, positive, section, text } from './fields';

/** Where training images come from and how they become patches. */
export const dataOptionsSchema = section({
  /** Files, folders (searched recursively; a folder of DICOM slices is one series) or glob patterns. */
  sources: list(text('a path or glob pattern'), 'a list of paths or glob patterns', 1),
  /** Default: percentile clipping 0.5 to 99.5. */
  normalize: normalizationSchema.default({ kind: 'percentile', lower: 0.5, upper: 99.5 }),
  /** Resample volumes to this voxel size first, mm per array axis (D, H, W). Default: keep. */
  spacing: list(positive(), 'an array of 3 positive numbers', 3, 3).optional(),
  /** 2D training from volumes: which slices. Default "axial". */
  sliceAxis: choice(['axial', 'coronal', 'sagittal', 'any']).default('axial'),
  /** Patch side relative to the crop, for the context the views need. Default 1.5. */
  context: number(1, 4).default(1.5),
  /** Patches with less than this share of voxels above 0.05 are drawn again (up to 10 times). Default 0.1. */
  minForeground: number(0, 1).default(0.1),
  /** An unreadable file stops training ("error", naming the file) or is skipped with a warning ("skip"). */
  onError: choice(['error', 'skip']).default('error'),
  /** Decoded images kept in memory. Default 8. */
  cacheSize: integer(1, 4096).default(8),
  /** Largest image read, in voxels; a larger one is an error naming its size. Default 2^29. */
  maxVoxels: integer(1, Number.MAX_SAFE_INTEGER).default(DEFAULT_MAX_VOXELS),
});

/**
 * Where training images come from and how they become patches (`data` in a pretrain
 * config). Equal to what {@link dataOptionsSchema} accepts (test/unit/optionTypes.test.ts).
 */
export interface DataOptions {
  /** Files, folders (searched recursively; a folder of DICOM slices is one series) or glob patterns. */
  sources: string[];
  /** Intensity normalisation. Default: percentile clipping 0.5 to 99.5. */
  normalize?: NormalizeSpec;
  /** Resample volumes to this voxel size first, mm per array axis (D, H, W). Default: keep. */
  spacing?: number[];
  /** 2D training from volumes: which slices. Default "axial". */
  sliceAxis?: 'axial' | 'coronal' | 'sagittal' | 'any';
  /** Patch side relative to the crop, for the context the views need (1 to 4). Default 1.5. */
  context?: number;
  /** Patches with less than this share of voxels above 0.05 are drawn again (up to 10 times). Default 0.1. */
  minForeground?: number;
  /** An unreadable file stops training ("error", naming the file) or is skipped with a warning ("skip"). Default "error". */
  onError?: 'error' | 'skip';
  /** Decoded images kept in memory. Default 8. */
  cacheSize?: number;
  /**
   * Largest image read, in voxels (one volume of a 4D file); a larger one is an error that
   * names its size, before it is decompressed. Default 2^29 = 536,870,912 (2 GiB as float32).
   */
  maxVoxels?: number;
}

export type DataOptionsInput = z.input<typeof dataOptionsSchema>;
export type ResolvedDataOptions = z.output<typeof dataOptionsSchema>;
