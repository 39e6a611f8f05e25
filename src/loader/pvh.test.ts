/** Tests for the PVH start info, memory map and module list layout. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildE820Map, E820_TYPE } from '../arch/x86_64/e820.ts';
import { ramRegions } from '../arch/x86_64/layout.ts';
import { GuestMemory } from '../memory/guest-memory.ts';
import { LoaderError } from './loader-error.ts';
import { MEMMAP_MAX_ENTRIES, writePvhStartInfo } from './pvh.ts';

const MiB = 1 << 20;
const GiB = 1 << 30;

describe('writePvhStartInfo', () => {
  it('writes hvm_start_info v1, the memmap and one module for the initramfs', () => {
    const memory = GuestMemory.anonymous([{ guestBase: 0, size: 8 * MiB }]);
    const e820 = buildE820Map([...ramRegions(6 * GiB)]);
    const address = writePvhStartInfo(memory, { cmdlineAddress: 0x20000, initramfs: { address: 0x700000, size: 0x5432 }, e820, rsdpAddress: 0xa0000 });
    assert.equal(address, 0x6000);
    assert.equal(memory.readU32(0x6000), 0x336ec578, 'magic');
    assert.equal(memory.readU32(0x6004), 1, 'version');
    assert.equal(memory.readU32(0x6008), 0, 'flags');
    assert.equal(memory.readU32(0x600c), 1, 'nr_modules');
    assert.equal(memory.readU64(0x6010), 0x6040n, 'modlist_paddr');
    assert.equal(memory.readU64(0x6018), 0x20000n, 'cmdline_paddr');
    assert.equal(memory.readU64(0x6020), 0xa0000n, 'rsdp_paddr');
    assert.equal(memory.readU64(0x6028), 0x7000n, 'memmap_paddr');
    assert.equal(memory.readU32(0x6030), 4, 'memmap_entries');
    assert.equal(memory.readU32(0x6034), 0, 'reserved');

    assert.equal(memory.readU64(0x6040), 0x700000n, 'module paddr');
    assert.equal(memory.readU64(0x6048), 0x5432n, 'module size');
    assert.equal(memory.readU64(0x6050), 0n, 'module cmdline_paddr');

    const entries = [0, 1, 2, 3].map((i) => {
      const at = 0x7000 + i * 24;
      return [Number(memory.readU64(at)), Number(memory.readU64(at + 8)), memory.readU32(at + 16), memory.readU32(at + 20)];
    });
    assert.deepEqual(entries, [
      [0, 0xa0000, E820_TYPE.RAM, 0],
      [0x100000, 3 * GiB - MiB, E820_TYPE.RAM, 0],
      [4 * GiB, 3 * GiB, E820_TYPE.RAM, 0],
      [0xe8000000, 256 * MiB, E820_TYPE.RESERVED, 0],
    ]);
  });

  it('writes no module and zero RSDP when they are absent', () => {
    const memory = GuestMemory.anonymous([{ guestBase: 0, size: 8 * MiB }]);
    memory.fill(0x6040, 32, 0xaa);
    writePvhStartInfo(memory, { cmdlineAddress: 0x20000, e820: buildE820Map(ramRegions(8 * MiB)) });
    assert.equal(memory.readU32(0x600c), 0);
    assert.equal(memory.readU64(0x6010), 0n);
    assert.equal(memory.readU64(0x6020), 0n);
    assert.equal(memory.readU8(0x6040), 0xaa, 'module list untouched');
  });

  it('rejects a memory map that would run into the boot stack, writing nothing', () => {
    const memory = GuestMemory.anonymous([{ guestBase: 0, size: 8 * MiB }]);
    const e820 = Array.from({ length: MEMMAP_MAX_ENTRIES + 1 }, (_, i) => ({ addr: i * 0x1000, size: 0x1000, type: E820_TYPE.RAM }));
    assert.equal(MEMMAP_MAX_ENTRIES, 170);
    assert.throws(() => writePvhStartInfo(memory, { cmdlineAddress: 0x20000, e820 }), (e: unknown) => e instanceof LoaderError && e.code === 'BOOT_SETUP_INVALID');
    assert.equal(memory.readU32(0x6000), 0);
  });
});
