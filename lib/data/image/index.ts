/** Medical image input: readers for NIfTI, DICOM, PNG and JPEG, orientation, normalisation and resampling. */
export { ImageReadError, isPlanar, planeShape, type ImageVolume } from './ImageVolume';
export { axisCodes, closestAxes, toClosestCanonical, type AxisMapping, type VoxelGrid } from './orientation';
export { readNifti, type ReadNiftiOptions } from './readNifti';
export { readDicomSeries, type ReadDicomOptions } from './readDicomSeries';
export { readPlanarImage } from './readPlanarImage';
export { readImage, type ReadImageOptions } from './readImage';
export {
  CT_WINDOW_PRESETS,
  normalizeIntensity,
  normalizationSchema,
  percentiles,
  type CtWindowPreset,
  type NormalizeSpec,
} from './normalize';
export { resampleToSpacing, spacingFor, type ResampleOptions } from './resample';
export { DEFAULT_MAX_VOXELS, type VoxelLimitOptions } from './voxelLimit';
