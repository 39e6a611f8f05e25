/** Tests for the bzImage setup header parser and the 64-bit boot protocol placement, on synthetic images. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GuestMemory } from '../memory/guest-memory.ts';
import { isBzImage, parseBzImage, placeBzImage, SETUP_HEADER, writeBzImage } from './bzimage.ts';
import { LoaderError, type LoaderErrorCode } from './loader-error.ts';
import { buildBzImage, syntheticKernelBody } from '../../test/helpers/synthetic-kernels.ts';

const MiB = 1 << 20;

function rejects(code: LoaderErrorCode, pattern: RegExp): (e: unknown) => boolean {
  return (e) => e instanceof LoaderError && e.code === code && pattern.test(e.message);
}

function patch(bytes: Uint8Array, edit: (view: DataView) => void): Uint8Array {
  const copy = bytes.slice();
  edit(new DataView(copy.buffer));
  return copy;
}

const body = syntheticKernelBody(0x3000);

describe('parseBzImage', () => {
  it('reads the setup header fields', () => {
    const file = buildBzImage({ kernel: body, setupSects: 3, kernelVersion: '6.1.0-test (nimbus)' });
    assert.equal(isBzImage(file), true);
    const image = parseBzImage(file, 'bz');
    assert.deepEqual(image.header, {
      protocolVersion: 0x020f,
      setupSects: 3,
      syssize: 0x300,
      loadflags: 0x01,
      xloadflags: 0x03,
      relocatable: true,
      kernelAlignment: 0x200000,
      prefAddress: 0x1000000,
      initSize: 0x400000,
      cmdlineSize: 2047,
      initrdAddrMax: 0x7fffffff,
      payloadOffset: 0x10,
      payloadLength: 0x20,
      kernelVersion: '6.1.0-test (nimbus)',
    });
    assert.equal(image.kernelOffset, 4 * 512);
    assert.equal(image.kernelSize, 0x3000);
    assert.deepEqual(image.headerBytes, file.subarray(0x1f1, 0x26c));
  });

  it('treats setup_sects 0 as 4', () => {
    const image = parseBzImage(buildBzImage({ kernel: body, setupSects: 0 }), 'bz');
    assert.equal(image.header.setupSects, 4);
    assert.equal(image.kernelOffset, 5 * 512);
  });

  it('rejects images without the boot flag or HdrS magic', () => {
    const file = buildBzImage({ kernel: body });
    for (const bad of [patch(file, (v) => v.setUint16(0x1fe, 0x55aa, true)), patch(file, (v) => v.setUint8(0x202, 0x68)), file.subarray(0, 0x100)]) {
      assert.equal(isBzImage(bad), false);
      assert.throws(() => parseBzImage(bad, '/bz'), rejects('NOT_A_KERNEL', /^\/bz: not a Linux boot image/));
    }
  });

  it('rejects protocols older than 2.12 and kernels without the 64-bit entry', () => {
    assert.throws(() => parseBzImage(buildBzImage({ kernel: body, protocol: 0x020b }), '/bz'), rejects('KERNEL_INVALID', /boot protocol 2\.11 is older than 2\.12/));
    assert.throws(() => parseBzImage(buildBzImage({ kernel: body, xloadflags: 0x02 }), '/bz'), rejects('KERNEL_INVALID', /XLF_KERNEL_64 is clear/));
    assert.throws(() => parseBzImage(buildBzImage({ kernel: body, loadflags: 0 }), '/bz'), rejects('KERNEL_INVALID', /zImage/));
    assert.throws(() => parseBzImage(buildBzImage({ kernel: body, kernelAlignment: 0x300000 }), '/bz'), rejects('KERNEL_INVALID', /kernel_alignment 0x300000 is not a power of two/));
    assert.throws(() => parseBzImage(buildBzImage({ kernel: body, initSize: 0 }), '/bz'), rejects('KERNEL_INVALID', /init_size is 0/));
    assert.throws(() => parseBzImage(patch(buildBzImage({ kernel: body }), (v) => v.setUint8(0x201, 0x40)), '/bz'), rejects('KERNEL_INVALID', /setup header length/));
  });

  it('rejects truncated images', () => {
    const file = buildBzImage({ kernel: body, setupSects: 4 });
    assert.throws(() => parseBzImage(file.subarray(0, 0x240), '/bz'), rejects('KERNEL_TRUNCATED', /^\/bz: the file \(576 bytes\) ends inside the setup header/));
    assert.throws(() => parseBzImage(file.subarray(0, 0x800), '/bz'), rejects('KERNEL_TRUNCATED', /the 4 setup sectors/));
    assert.throws(() => parseBzImage(file.subarray(0, file.length - 0x100), '/bz'), rejects('KERNEL_TRUNCATED', /protected-mode kernel/));
    assert.throws(() => parseBzImage(patch(file, (v) => v.setUint32(SETUP_HEADER.PAYLOAD_LENGTH, 0x10000, true)), '/bz'), rejects('KERNEL_TRUNCATED', /compressed payload/));
  });

  it('rejects a pref_address beyond 2^53', () => {
    const file = patch(buildBzImage({ kernel: body }), (v) => v.setBigUint64(SETUP_HEADER.PREF_ADDRESS, 2n ** 60n, true));
    assert.throws(() => parseBzImage(file, '/bz'), rejects('KERNEL_INVALID', /pref_address 0x1000000000000000 is too large/));
  });

  it('ignores a kernel_version pointer that does not lead to a printable string', () => {
    const file = patch(buildBzImage({ kernel: body, kernelVersion: 'x' }), (v) => v.setUint8(0x400, 0x07));
    assert.equal(parseBzImage(file, 'bz').header.kernelVersion, undefined);
  });
});

describe('placeBzImage and writeBzImage', () => {
  it('loads a relocatable kernel at 1 MiB with the 64-bit entry at +0x200 and accounts for init_size', () => {
    const file = buildBzImage({ kernel: body, initSize: 0x400000, prefAddress: 0x1000000 });
    const image = parseBzImage(file, 'bz');
    const memory = GuestMemory.anonymous([{ guestBase: 0, size: 64 * MiB }]);
    const placement = placeBzImage(image, memory, 'bz');
    assert.deepEqual(placement, { loadAddress: 0x100000, entry: 0x100200, end: 0x1400000 });
    writeBzImage(image, file, memory, placement);
    assert.deepEqual(memory.read(0x100000, body.length), body);
    assert.deepEqual(memory.read(placement.entry, 2), new Uint8Array([0xfc, 0xfa]));
  });

  it('runs a relocatable kernel above pref_address at the next kernel_alignment boundary', () => {
    const image = parseBzImage(buildBzImage({ kernel: body, prefAddress: 0x100000, kernelAlignment: 0x200000, initSize: 0x100000 }), 'bz');
    const placement = placeBzImage(image, GuestMemory.anonymous([{ guestBase: 0, size: 8 * MiB }]), 'bz');
    assert.equal(placement.end, 0x300000);
  });

  it('loads a non-relocatable kernel at pref_address', () => {
    const image = parseBzImage(buildBzImage({ kernel: body, relocatable: false, prefAddress: 0x200000, initSize: 0x100000 }), 'bz');
    const placement = placeBzImage(image, GuestMemory.anonymous([{ guestBase: 0, size: 8 * MiB }]), 'bz');
    assert.deepEqual(placement, { loadAddress: 0x200000, entry: 0x200200, end: 0x300000 });
  });

  it('rejects a non-relocatable kernel that wants to load below 1 MiB', () => {
    const image = parseBzImage(buildBzImage({ kernel: body, relocatable: false, prefAddress: 0x10000 }), '/bz');
    assert.throws(() => placeBzImage(image, GuestMemory.anonymous([{ guestBase: 0, size: 8 * MiB }]), '/bz'), rejects('KERNEL_PLACEMENT', /below 1 MiB/));
  });

  it('rejects a kernel whose init_size does not fit guest RAM', () => {
    const image = parseBzImage(buildBzImage({ kernel: body, initSize: 0x4000000 }), '/bz');
    assert.throws(
      () => placeBzImage(image, GuestMemory.anonymous([{ guestBase: 0, size: 32 * MiB }]), '/bz'),
      rejects('KERNEL_PLACEMENT', /^\/bz: the kernel needs guest RAM from 0x100000 to 0x5000000 .* give the VM more memory/),
    );
  });
});
