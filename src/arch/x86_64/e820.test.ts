/** Tests for the e820 map built from the guest RAM regions. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildE820Map, E820_TYPE } from './e820.ts';
import { LayoutError, ramRegions } from './layout.ts';

const MiB = 1 << 20;
const GiB = 1 << 30;

describe('buildE820Map', () => {
  it('describes RAM below 3 GiB with the EBDA/BIOS hole and reserves PCI MMCONFIG', () => {
    assert.deepEqual(buildE820Map(ramRegions(512 * MiB)), [
      { addr: 0, size: 0xa0000, type: E820_TYPE.RAM },
      { addr: 0x100000, size: 511 * MiB, type: E820_TYPE.RAM },
      { addr: 0xe8000000, size: 256 * MiB, type: E820_TYPE.RESERVED },
    ]);
  });

  it('adds the RAM above 4 GiB after the low RAM', () => {
    assert.deepEqual(buildE820Map(ramRegions(6 * GiB)), [
      { addr: 0, size: 0xa0000, type: E820_TYPE.RAM },
      { addr: 0x100000, size: 3 * GiB - MiB, type: E820_TYPE.RAM },
      { addr: 4 * GiB, size: 3 * GiB, type: E820_TYPE.RAM },
      { addr: 0xe8000000, size: 256 * MiB, type: E820_TYPE.RESERVED },
    ]);
  });

  it('merges adjacent regions given in any order', () => {
    const regions = [
      { guestBase: 64 * MiB, size: 64 * MiB },
      { guestBase: 0, size: 64 * MiB },
    ];
    assert.deepEqual(buildE820Map(regions)[1], { addr: 0x100000, size: 127 * MiB, type: E820_TYPE.RAM });
  });

  it('rejects layouts the boot protocols cannot describe', () => {
    const bad = [
      [],
      [{ guestBase: 0x100000, size: 64 * MiB }], // does not start at 0
      [{ guestBase: 0, size: 0x100000 }], // no high RAM
      [{ guestBase: 0, size: 3 * GiB + 4096 }], // runs into the 32-bit hole
      [
        { guestBase: 0, size: 64 * MiB },
        { guestBase: 3 * GiB + 4096, size: 4096 },
      ], // second range inside the hole
      [
        { guestBase: 0, size: 64 * MiB },
        { guestBase: 32 * MiB, size: 64 * MiB },
      ], // overlap
    ];
    for (const regions of bad) {
      assert.throws(() => buildE820Map(regions), (e: unknown) => e instanceof LayoutError && e.code === 'RAM_LAYOUT_INVALID', JSON.stringify(regions));
    }
  });
});
