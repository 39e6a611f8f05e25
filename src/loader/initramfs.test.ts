/** Tests for initramfs placement at the top of low RAM. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ramRegions } from '../arch/x86_64/layout.ts';
import { GuestMemory } from '../memory/guest-memory.ts';
import { placeInitramfs, writeInitramfs } from './initramfs.ts';
import { LoaderError } from './loader-error.ts';

const MiB = 1 << 20;

describe('placeInitramfs', () => {
  it('places it page-aligned at the top of RAM below 3 GiB', () => {
    const memory = GuestMemory.anonymous(ramRegions(64 * MiB));
    assert.deepEqual(placeInitramfs(0x1234, memory, { kernelEnd: 0x200000 }), { address: 64 * MiB - 0x2000, size: 0x1234 });
    assert.deepEqual(placeInitramfs(0x2000, memory, { kernelEnd: 0x200000 }), { address: 64 * MiB - 0x2000, size: 0x2000 });
  });

  it('uses the end of the RAM that starts at 0 when it is made of several regions', () => {
    const memory = GuestMemory.anonymous([
      { guestBase: 0, size: 16 * MiB },
      { guestBase: 16 * MiB, size: 16 * MiB },
      { guestBase: 64 * MiB, size: 16 * MiB },
    ]);
    assert.equal(placeInitramfs(0x1000, memory, { kernelEnd: 0x200000 }).address, 32 * MiB - 0x1000);
  });

  it('stays below the address limit (initrd_addr_max + 1)', () => {
    const memory = GuestMemory.anonymous(ramRegions(64 * MiB));
    assert.equal(placeInitramfs(0x1800, memory, { kernelEnd: 0x200000, addressLimit: 0x1000000 }).address, 0x1000000 - 0x2000);
  });

  it('rejects an initramfs that would overlap the kernel, and an empty one', () => {
    const memory = GuestMemory.anonymous(ramRegions(16 * MiB));
    assert.throws(
      () => placeInitramfs(9 * MiB, memory, { kernelEnd: 8 * MiB }),
      (e: unknown) => e instanceof LoaderError && e.code === 'INITRAMFS_PLACEMENT' && /does not fit between the end of the kernel \(0x800000\) and 0x1000000/.test(e.message),
    );
    assert.equal(placeInitramfs(8 * MiB, memory, { kernelEnd: 8 * MiB }).address, 8 * MiB);
    assert.throws(() => placeInitramfs(0, memory, { kernelEnd: 0 }), (e: unknown) => e instanceof LoaderError && /empty/.test(e.message));
  });

  it('writes the bytes at the chosen address', () => {
    const memory = GuestMemory.anonymous(ramRegions(4 * MiB));
    const bytes = new Uint8Array([1, 2, 3, 4, 5]);
    const placement = placeInitramfs(bytes.length, memory, { kernelEnd: 0x200000 });
    writeInitramfs(memory, bytes, placement);
    assert.deepEqual(memory.read(4 * MiB - 0x1000, 5), bytes);
  });
});
