// Reads NumPy's .npy and .npz files in the browser, without pickle: numeric arrays only
// (float, int, uint, bool of any byte order, C or Fortran order), as nested arrays. An .npz is a
// zip of .npy files, stored or deflated; its entries are inflated with the browser's own
// DecompressionStream. Anything else (object arrays, structured dtypes) is refused by name.

export const MAX_FILE_BYTES = 8 << 20;

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

const READERS = {
  f8: (v, o, le) => v.getFloat64(o, le), f4: (v, o, le) => v.getFloat32(o, le),
  i8: (v, o, le) => Number(v.getBigInt64(o, le)), i4: (v, o, le) => v.getInt32(o, le),
  i2: (v, o, le) => v.getInt16(o, le), i1: (v, o) => v.getInt8(o),
  u8: (v, o, le) => Number(v.getBigUint64(o, le)), u4: (v, o, le) => v.getUint32(o, le),
  u2: (v, o, le) => v.getUint16(o, le), u1: (v, o) => v.getUint8(o), b1: (v, o) => v.getUint8(o),
};

// The header is a Python dict literal, e.g. {'descr': '<f8', 'fortran_order': False, 'shape': (3, 3), }
function parseHeader(text, name) {
  const descr = /'descr':\s*'([^']*)'/.exec(text);
  const fortran = /'fortran_order':\s*(True|False)/.exec(text);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(text);
  if (!descr || !fortran || !shape) throw new Error(`${name}: not a .npy header (${text.slice(0, 60)})`);
  const dims = shape[1].split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  return { descr: descr[1], fortran: fortran[1] === "True", shape: dims };
}

// bytes (Uint8Array of one .npy) -> { shape, data: nested arrays (or a number for 0-d) }
export function parseNpy(bytes, name = "array") {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw new Error(`${name}: not a .npy file`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6];
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = parseHeader(new TextDecoder("latin1").decode(bytes.subarray(start, start + headerLen)), name);
  const m = /^([<>|=])([fiub])(\d+)$/.exec(header.descr);
  if (!m || !READERS[m[2] + m[3]]) {
    throw new Error(`${name}: dtype ${header.descr} is not a number type convviz reads (float, int, uint, bool; ` +
                    "object arrays are never loaded)");
  }
  const read = READERS[m[2] + m[3]];
  const size = Number(m[3]);
  const little = m[1] !== ">";
  const count = header.shape.reduce((a, b) => a * b, 1);
  const offset = start + headerLen;
  if (offset + count * size > bytes.length) throw new Error(`${name}: the file is shorter than its shape ${header.shape} says`);
  const flat = new Array(count);
  for (let k = 0; k < count; k++) flat[k] = read(view, offset + k * size, little);
  return { shape: header.shape, data: nest(flat, header.shape, header.fortran) };
}

function nest(flat, shape, fortran) {
  if (shape.length === 0) return flat[0];
  const strides = new Array(shape.length);
  let s = 1;
  const order = fortran ? [...shape.keys()] : [...shape.keys()].reverse();
  for (const axis of order) { strides[axis] = s; s *= shape[axis]; }
  const build = (axis, base) => {
    const out = new Array(shape[axis]);
    for (let i = 0; i < shape[axis]; i++) {
      out[i] = axis === shape.length - 1 ? flat[base + i * strides[axis]] : build(axis + 1, base + i * strides[axis]);
    }
    return out;
  };
  return build(0, 0);
}

async function inflateRaw(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

// bytes of an .npz -> { entryName (without .npy): { shape, data } }
export async function parseNpz(bytes, name = "archive") {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = -1;
  for (let k = bytes.length - 22; k >= Math.max(0, bytes.length - 65557); k--) {
    if (view.getUint32(k, true) === 0x06054b50) { eocd = k; break; }
  }
  if (eocd < 0) throw new Error(`${name}: not an .npz (zip) file`);
  const entries = view.getUint16(eocd + 10, true);
  let p = view.getUint32(eocd + 16, true);
  const found = {};
  for (let e = 0; e < entries; e++) {
    if (view.getUint32(p, true) !== 0x02014b50) throw new Error(`${name}: damaged zip directory`);
    const method = view.getUint16(p + 10, true);
    const compressed = view.getUint32(p + 20, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    const local = view.getUint32(p + 42, true);
    const entryName = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLen));
    p += 46 + nameLen + extraLen + commentLen;
    const dataStart = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    const raw = bytes.subarray(dataStart, dataStart + compressed);
    if (method !== 0 && method !== 8) throw new Error(`${name}: ${entryName} uses zip method ${method}; save with np.savez`);
    const npy = method === 0 ? raw : await inflateRaw(raw);
    found[entryName.replace(/\.npy$/, "")] = parseNpy(npy, `${name}/${entryName}`);
  }
  return found;
}

// A dropped or chosen File -> { name: { shape, data } }: an .npy is named by its file name.
export async function readArrays(file) {
  if (file.size > MAX_FILE_BYTES) {
    throw new Error(`${file.name} is ${(file.size / 1048576).toFixed(1)} MB; the page reads files up to ${MAX_FILE_BYTES >> 20} MB`);
  }
  const bytes = new Uint8Array(await file.arrayBuffer());
  if (/\.npz$/i.test(file.name)) return parseNpz(bytes, file.name);
  if (/\.npy$/i.test(file.name)) return { [file.name.replace(/\.npy$/i, "")]: parseNpy(bytes, file.name) };
  throw new Error(`${file.name}: give .npy or .npz files (or paste JSON)`);
}
