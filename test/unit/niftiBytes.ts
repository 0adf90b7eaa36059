/** Test helper: NIfTI-1 files written field by field, independent of the reader under test. */

export interface NiftiSpec {
  dims: number[];
  /** NIfTI datatype code and bytes per voxel. */
  datatype?: number;
  pixdim?: number[];
  qform?: { code: number; b: number; c: number; d: number; offset: number[] };
  /** srow_x, srow_y, srow_z, 12 numbers. */
  sform?: { code: number; rows: number[] };
  slope?: number;
  inter?: number;
  values: number[];
  bigEndian?: boolean;
  /** xyzt_units (spatial unit in bits 0-2: 1 metre, 2 mm, 3 micron). */
  units?: number;
}

const TYPES: Record<number, { bytes: number; write: (v: DataView, at: number, x: number, le: boolean) => void }> = {
  2: { bytes: 1, write: (v, at, x) => v.setUint8(at, x) },
  4: { bytes: 2, write: (v, at, x, le) => v.setInt16(at, x, le) },
  16: { bytes: 4, write: (v, at, x, le) => v.setFloat32(at, x, le) },
  64: { bytes: 8, write: (v, at, x, le) => v.setFloat64(at, x, le) },
  512: { bytes: 2, write: (v, at, x, le) => v.setUint16(at, x, le) },
};

/** A single-file NIfTI-1, header written field by field (offsets from nifti1.h). */
export function niftiBytes(spec: NiftiSpec): Buffer {
  const le = !spec.bigEndian;
  const datatype = spec.datatype ?? 16;
  const type = TYPES[datatype]!;
  const buffer = new ArrayBuffer(352 + spec.values.length * type.bytes);
  const view = new DataView(buffer);
  view.setInt32(0, 348, le); // sizeof_hdr
  for (let i = 0; i < 8; i++) view.setInt16(40 + 2 * i, i < spec.dims.length ? spec.dims[i]! : 1, le);
  view.setInt16(70, datatype, le);
  view.setInt16(72, type.bytes * 8, le);
  const pixdim = spec.pixdim ?? [1, 1, 1, 1, 1, 1, 1, 1];
  for (let i = 0; i < 8; i++) view.setFloat32(76 + 4 * i, pixdim[i] ?? 1, le);
  view.setFloat32(108, 352, le); // vox_offset
  view.setFloat32(112, spec.slope ?? 1, le);
  view.setFloat32(116, spec.inter ?? 0, le);
  view.setUint8(123, spec.units ?? 0);
  view.setInt16(252, spec.qform?.code ?? 0, le);
  view.setInt16(254, spec.sform?.code ?? 0, le);
  if (spec.qform) {
    const { b, c, d, offset } = spec.qform;
    [b, c, d, ...offset].forEach((x, i) => view.setFloat32(256 + 4 * i, x, le));
  }
  spec.sform?.rows.forEach((x, i) => view.setFloat32(280 + 4 * i, x, le));
  new Uint8Array(buffer).set([0x6e, 0x2b, 0x31, 0], 344); // "n+1\0"
  spec.values.forEach((x, i) => type.write(view, 352 + i * type.bytes, x, le));
  return Buffer.from(buffer);
}
