import { stat } from 'node:fs/promises';
import { describeReceived } from '../../errors';
import { ImageReadError, firstBytesHex, libraryMessage, type ImageVolume } from './ImageVolume';
import {
  decodeDicomFile,
  isDicom,
  readDicomSeries,
  validateDicomOptions,
  type ReadDicomOptions,
} from './readDicomSeries';
import { fileSystemReason, readFileBytes } from './readFileBytes';
import {
  decodeNifti,
  gunzipBytes,
  isGzip,
  niftiVersion,
  validateNiftiOptions,
  type ReadNiftiOptions,
} from './readNifti';
import { decodePlanarImage, isJpeg, isPng } from './readPlanarImage';

/**
 * One entry point for every supported format, chosen by content rather than by file name
 * (a `.nii` that is really gzipped, or a DICOM slice without an extension, still reads):
 * a folder is a DICOM series; a file is gzip (then NIfTI inside), NIfTI-1/2, DICOM Part 10,
 * PNG or JPEG. Whatever fails comes back as an ImageReadError that names the file.
 */

/** Options of every reader; `maxVoxels` applies to every format. */
export interface ReadImageOptions extends ReadNiftiOptions, ReadDicomOptions {}

const OPTION_NAMES = ['volumeIndex', 'seriesInstanceUid', 'maxVoxels'];

export async function readImage(file: string, options: ReadImageOptions = {}): Promise<ImageVolume> {
  if (typeof file !== 'string' || file === '') {
    throw new TypeError(`Expected a file or folder path for path but received ${describeReceived(file)}`);
  }
  validateOptions(options);
  try {
    return await dispatch(file, options);
  } catch (error) {
    if (error instanceof ImageReadError) throw error;
    // A parsing library threw something unforeseen: keep it as the cause, but name the file.
    throw new ImageReadError(file, `could not be decoded (${libraryMessage(error)})`, { cause: error });
  }
}

function validateOptions(options: ReadImageOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`Expected an object for options but received ${describeReceived(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_NAMES.includes(key)) {
      throw new TypeError(`Unknown option "${key}" for readImage, expected one of ${OPTION_NAMES.join(', ')}`);
    }
  }
  validateNiftiOptions(options);
  validateDicomOptions(options);
}

async function dispatch(file: string, options: ReadImageOptions): Promise<ImageVolume> {
  let isFolder: boolean;
  try {
    isFolder = (await stat(file)).isDirectory();
  } catch (error) {
    throw new ImageReadError(file, fileSystemReason(error), { cause: error });
  }
  if (isFolder) return readDicomSeries(file, options);

  let bytes = await readFileBytes(file);
  if (isGzip(bytes)) {
    bytes = await gunzipBytes(bytes, file, options);
    if (niftiVersion(bytes) === 0) {
      throw new ImageReadError(
        file,
        `gzip-compressed, but the content is not NIfTI (first bytes ${firstBytesHex(bytes)}), expected a .nii.gz`,
      );
    }
  }
  if (niftiVersion(bytes) !== 0) return decodeNifti(bytes, file, options);
  if (isDicom(bytes)) return decodeDicomFile(bytes, file, options);
  if (isPng(bytes) || isJpeg(bytes)) return decodePlanarImage(bytes, file, options);
  throw new ImageReadError(
    file,
    `not a NIfTI, DICOM, PNG or JPEG file (first bytes ${firstBytesHex(bytes)}), ` +
      'expected a .nii/.nii.gz, a DICOM Part-10 file ("DICM" at byte 128), a .png, a .jpg or a DICOM folder',
  );
}
