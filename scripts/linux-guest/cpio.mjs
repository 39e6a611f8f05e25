// Minimal writer for "newc" cpio archives (the format Linux unpacks as an initramfs, see
// Documentation/driver-api/early-userspace/buffer-format.rst): directories, regular files, symlinks and device
// nodes, owned by root, with a fixed mtime so the same inputs give the same bytes.

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;

const MAGIC = '070701';
const HEADER_LENGTH = 110;
const TRAILER_NAME = 'TRAILER!!!';
const MAX_FIELD = 0xffffffff;

/**
 * @typedef {object} CpioEntry
 * @property {string} path      path inside the archive, e.g. "bin/busybox" (no leading "/")
 * @property {number} mode      st_mode: one of the S_IF* types | permission bits
 * @property {Uint8Array} [data] file contents, or the target of a symlink
 * @property {number} [rdevMajor] device number of a device node
 * @property {number} [rdevMinor]
 */

/**
 * Serialises the entries (in the given order; parents must come before their children) plus the trailer.
 * @param {readonly CpioEntry[]} entries
 * @returns {Buffer}
 */
export function newcArchive(entries) {
  const chunks = [];
  const seen = new Set();
  let inode = 1;
  for (const entry of entries) {
    checkPath(entry.path);
    if (seen.has(entry.path)) throw new Error(`cpio: duplicate path ${entry.path}`);
    seen.add(entry.path);
    const data = entry.data ?? new Uint8Array(0);
    chunks.push(
      header({
        ino: inode++,
        mode: entry.mode,
        nlink: (entry.mode & 0o170000) === S_IFDIR ? 2 : 1,
        filesize: data.length,
        rdevMajor: entry.rdevMajor ?? 0,
        rdevMinor: entry.rdevMinor ?? 0,
        name: entry.path,
      }),
      padded(data),
    );
  }
  chunks.push(header({ ino: 0, mode: 0, nlink: 1, filesize: 0, rdevMajor: 0, rdevMinor: 0, name: TRAILER_NAME }));
  return Buffer.concat(chunks);
}

function header({ ino, mode, nlink, filesize, rdevMajor, rdevMinor, name }) {
  const fields = [ino, mode, 0 /* uid */, 0 /* gid */, nlink, 0 /* mtime */, filesize, 0, 0 /* dev */, rdevMajor, rdevMinor, name.length + 1, 0 /* check */];
  for (const value of fields) {
    if (!Number.isInteger(value) || value < 0 || value > MAX_FIELD) throw new Error(`cpio: field value ${value} of ${name} does not fit 32 bits`);
  }
  const text = MAGIC + fields.map((v) => v.toString(16).padStart(8, '0')).join('') + name + '\0';
  if (text.length !== HEADER_LENGTH + name.length + 1) throw new Error(`cpio: bad header for ${name}`);
  return padded(Buffer.from(text, 'latin1'));
}

/** The bytes followed by zeros up to a multiple of 4. */
function padded(bytes) {
  const padding = (4 - (bytes.length % 4)) % 4;
  return padding === 0 ? Buffer.from(bytes) : Buffer.concat([bytes, Buffer.alloc(padding)]);
}

function checkPath(path) {
  if (path.length === 0 || path.startsWith('/') || path === TRAILER_NAME || !/^[\x21-\x7e]+$/.test(path)) {
    throw new Error(`cpio: unsupported path ${JSON.stringify(path)}`);
  }
}
