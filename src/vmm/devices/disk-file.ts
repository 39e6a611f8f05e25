/**
 * The raw disk image behind a virtio-blk device. The main thread opens it (openDiskImage: read-only or read-write,
 * refusing images that are visibly another format, and the GET_ID serial); the device's I/O worker does the I/O on
 * that descriptor (DiskFile): vectored synchronous reads and writes straight between the file and guest memory
 * views, fdatasync for FLUSH, and zeroing by writing zeroes (Node.js has no fallocate, so FALLOC_FL_PUNCH_HOLE is
 * out of reach: a discarded range stays allocated).
 */
import { closeSync, fdatasyncSync, fstatSync, openSync, readSync, readvSync, writeSync, writevSync } from 'node:fs';
import type { BlockBackend } from '../../virtio/devices/block/virtio-blk.ts';
import { VIRTIO_BLK_ID_BYTES } from '../../virtio/devices/block/virtio-blk-layout.ts';
import { PciDeviceError } from './pci-device-error.ts';

/** Magic numbers of the image formats Nimbus cannot read, where each format keeps them. */
const FOREIGN_FORMATS = [
  { name: 'qcow2', magic: [0x51, 0x46, 0x49, 0xfb], at: 'start' }, // "QFI\xfb"
  { name: 'VHDX', magic: [...'vhdxfile'].map((c) => c.charCodeAt(0)), at: 'start' },
  { name: 'VHD', magic: [...'conectix'].map((c) => c.charCodeAt(0)), at: 'footer' }, // the 512-byte footer
] as const;
const VHD_FOOTER_BYTES = 512;

export interface OpenedDiskImage {
  fd: number;
  /** What GET_ID returns: `serial=`, or Cloud Hypervisor's default built from the file's device and inode numbers. */
  serial: Uint8Array;
}

/**
 * Opens `--disk path=` for its I/O worker. With `detectFormat` (no image_type given) an image that starts like
 * qcow2 or VHDX, or ends like a VHD, is refused: exposing its metadata as raw sectors would corrupt it.
 */
export function openDiskImage(options: { path: string; readonly: boolean; serial?: string; detectFormat: boolean }): OpenedDiskImage {
  const { path } = options;
  let fd: number;
  try {
    fd = openSync(path, options.readonly ? 'r' : 'r+');
  } catch (cause) {
    const hint = options.readonly ? '' : ' (for an image you may only read, add readonly=on)';
    throw new PciDeviceError('DISK_OPEN_FAILED', `--disk: cannot open ${path}${hint}: ${(cause as Error).message}`, { cause });
  }
  try {
    if (options.detectFormat) refuseForeignFormat(fd, path);
    return { fd, serial: options.serial !== undefined ? new TextEncoder().encode(options.serial) : defaultSerial(fd) };
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

function refuseForeignFormat(fd: number, path: string): void {
  const size = fstatSync(fd).size;
  for (const format of FOREIGN_FORMATS) {
    const position = format.at === 'start' ? 0 : size - VHD_FOOTER_BYTES;
    if (position < 0) continue;
    const bytes = new Uint8Array(format.magic.length);
    if (readSync(fd, bytes, 0, bytes.length, position) !== bytes.length) continue;
    if (bytes.every((byte, i) => byte === format.magic[i])) {
      throw new PciDeviceError(
        'DISK_FORMAT_UNSUPPORTED',
        `--disk: ${path} is a ${format.name} image; Nimbus reads raw images only (convert it with qemu-img convert -O raw, ` +
          'or pass image_type=raw to use its bytes as they are)',
      );
    }
  }
}

/** Cloud Hypervisor's (and kvmtool's) default id: st_dev, st_rdev and st_ino in decimal, cut to 20 bytes. */
function defaultSerial(fd: number): Uint8Array {
  const stat = fstatSync(fd, { bigint: true });
  return new TextEncoder().encode(`${stat.dev}${stat.rdev}${stat.ino}`).subarray(0, VIRTIO_BLK_ID_BYTES);
}

/** Size of the shared zero buffer that zeroing writes from. */
const ZERO_CHUNK_BYTES = 1 << 20;
let zeroChunk: Uint8Array | undefined;

export class DiskFile implements BlockBackend {
  readonly size: number;
  private readonly fd: number;

  /** `fd` stays owned by the caller. */
  constructor(fd: number) {
    this.fd = fd;
    this.size = fstatSync(fd).size;
  }

  readv(buffers: readonly Uint8Array[], offset: number): void {
    transferAll(buffers, offset, 'read', (pending, position) => readvSync(this.fd, pending, position));
  }

  writev(buffers: readonly Uint8Array[], offset: number): void {
    transferAll(buffers, offset, 'write', (pending, position) => writevSync(this.fd, pending, position));
  }

  flush(): void {
    fdatasyncSync(this.fd);
  }

  writeZeroes(offset: number, length: number): void {
    zeroChunk ??= new Uint8Array(ZERO_CHUNK_BYTES);
    for (let done = 0; done < length; ) {
      const n = writeSync(this.fd, zeroChunk, 0, Math.min(ZERO_CHUNK_BYTES, length - done), offset + done);
      if (n === 0) throw new Error(`zeroing stopped at byte ${offset + done} of the disk image`);
      done += n;
    }
  }
}

/**
 * Repeats a vectored transfer until every buffer is done (the kernel may do less than asked); a transfer that
 * makes no progress is an error (a read past the end of a file that shrank).
 */
function transferAll(
  buffers: readonly Uint8Array[],
  offset: number,
  what: string,
  transfer: (pending: Uint8Array[], position: number) => number,
): void {
  let pending = buffers.filter((buffer) => buffer.length > 0);
  let position = offset;
  while (pending.length > 0) {
    const done = transfer(pending, position);
    if (done === 0) throw new Error(`the disk image ended at byte ${position} during a ${what}`);
    position += done;
    pending = skipBytes(pending, done);
  }
}

/** The buffers left after the first `count` bytes. */
function skipBytes(buffers: readonly Uint8Array[], count: number): Uint8Array[] {
  const rest: Uint8Array[] = [];
  let left = count;
  for (const buffer of buffers) {
    if (left >= buffer.length) {
      left -= buffer.length;
      continue;
    }
    rest.push(left > 0 ? buffer.subarray(left) : buffer);
    left = 0;
  }
  return rest;
}
