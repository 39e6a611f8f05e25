/** Tests of opening a --disk image (format refusal, serial, read-only) and of DiskFile's I/O on a real file. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, closeSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskFile, openDiskImage } from './disk-file.ts';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-disk-file-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('opens a raw image; the default serial is st_dev, st_rdev and st_ino in decimal, cut to 20 bytes', (t) => {
  const path = join(tempDir(t), 'disk.raw');
  writeFileSync(path, new Uint8Array(4096));
  const opened = openDiskImage({ path, readonly: false, detectFormat: true });
  try {
    const stat = statSync(path, { bigint: true });
    assert.equal(new TextDecoder().decode(opened.serial), `${stat.dev}${stat.rdev}${stat.ino}`.slice(0, 20));
    assert.equal(new DiskFile(opened.fd).size, 4096);
  } finally {
    closeSync(opened.fd);
  }
  const named = openDiskImage({ path, readonly: true, serial: 'SER-1', detectFormat: true });
  closeSync(named.fd);
  assert.deepEqual([...named.serial], [...new TextEncoder().encode('SER-1')]);
});

test('refuses qcow2, VHDX and VHD images unless image_type=raw was given', (t) => {
  const dir = tempDir(t);
  const qcow2 = join(dir, 'a.qcow2');
  writeFileSync(qcow2, Uint8Array.from([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3, ...new Array(504).fill(0)]));
  const vhdx = join(dir, 'a.vhdx');
  writeFileSync(vhdx, new TextEncoder().encode('vhdxfile'.padEnd(1024, '\0')));
  const vhd = join(dir, 'a.vhd');
  writeFileSync(vhd, new TextEncoder().encode('\0'.repeat(1024) + 'conectix'.padEnd(512, '\0')));
  for (const [path, name] of [[qcow2, 'qcow2'], [vhdx, 'VHDX'], [vhd, 'VHD']] as const) {
    assert.throws(() => openDiskImage({ path, readonly: true, detectFormat: true }), {
      code: 'DISK_FORMAT_UNSUPPORTED',
      message: `--disk: ${path} is a ${name} image; Nimbus reads raw images only (convert it with qemu-img convert -O raw, or pass image_type=raw to use its bytes as they are)`,
    });
    closeSync(openDiskImage({ path, readonly: true, detectFormat: false }).fd);
  }
  const tiny = join(dir, 'tiny.raw');
  writeFileSync(tiny, new Uint8Array(3));
  closeSync(openDiskImage({ path: tiny, readonly: true, detectFormat: true }).fd);
});

test('a missing image, or a read-only file without readonly=on, is DISK_OPEN_FAILED with a hint', (t) => {
  const dir = tempDir(t);
  assert.throws(() => openDiskImage({ path: join(dir, 'missing.raw'), readonly: true, detectFormat: true }), {
    code: 'DISK_OPEN_FAILED',
    message: new RegExp(`^--disk: cannot open ${join(dir, 'missing.raw')}: ENOENT`),
  });
  if (process.getuid?.() === 0) return; // root opens read-only files for writing anyway
  const locked = join(dir, 'locked.raw');
  writeFileSync(locked, new Uint8Array(512));
  chmodSync(locked, 0o444);
  assert.throws(() => openDiskImage({ path: locked, readonly: false, detectFormat: true }), {
    code: 'DISK_OPEN_FAILED',
    message: /\(for an image you may only read, add readonly=on\): EACCES/,
  });
});

test('DiskFile reads and writes across several buffers, zeroes ranges larger than its zero chunk, and reports a short read', (t) => {
  const path = join(tempDir(t), 'disk.raw');
  const size = 3 << 20;
  writeFileSync(path, new Uint8Array(size).fill(0x11));
  const { fd } = openDiskImage({ path, readonly: false, detectFormat: true });
  try {
    const disk = new DiskFile(fd);
    disk.writev([new Uint8Array(3).fill(1), new Uint8Array(0), new Uint8Array(5).fill(2)], 100);
    const parts = [new Uint8Array(4), new Uint8Array(6)];
    disk.readv(parts, 99);
    assert.deepEqual([...parts[0]!, ...parts[1]!], [0x11, 1, 1, 1, 2, 2, 2, 2, 2, 0x11]);
    disk.writeZeroes(512, (2 << 20) + 512);
    disk.flush();
    const image = readFileSync(path);
    assert.equal(image[511], 0x11);
    assert.ok(image.subarray(512, (2 << 20) + 1024).every((byte) => byte === 0));
    assert.equal(image[(2 << 20) + 1024], 0x11);
    assert.throws(() => disk.readv([new Uint8Array(1024)], size - 512), /the disk image ended at byte 3145728 during a read/);
  } finally {
    closeSync(fd);
  }
});
