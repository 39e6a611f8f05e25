/** Tests for the x86-64 guest address map and the RAM split around the 32-bit hole. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  APIC_START,
  CMDLINE_MAX_SIZE,
  CMDLINE_START,
  COM1_IRQ,
  EBDA_START,
  GED_IRQ,
  GED_MMIO_SIZE,
  GED_MMIO_START,
  HIGH_RAM_START,
  IOAPIC_START,
  KVM_IDENTITY_MAP_SIZE,
  KVM_IDENTITY_MAP_START,
  KVM_TSS_SIZE,
  KVM_TSS_START,
  LayoutError,
  MEM_32BIT_DEVICES_SIZE,
  MEM_32BIT_DEVICES_START,
  MEM_32BIT_RESERVED_SIZE,
  MEM_32BIT_RESERVED_START,
  MEMMAP_START,
  MIN_MEMORY_SIZE,
  MODLIST_START,
  PCI_MMCONFIG_SIZE,
  PCI_MMCONFIG_START,
  PVH_INFO_START,
  RAM_64BIT_START,
  ramRegions,
  ZERO_PAGE_START,
} from './layout.ts';

const MiB = 1 << 20;
const GiB = 1 << 30;

describe('x86-64 layout constants', () => {
  it('matches the Cloud Hypervisor address map', () => {
    assert.equal(PVH_INFO_START, 0x6000);
    assert.equal(MODLIST_START, 0x6040);
    assert.equal(MEMMAP_START, 0x7000);
    assert.equal(ZERO_PAGE_START, 0x7000);
    assert.equal(CMDLINE_START, 0x20000);
    assert.equal(CMDLINE_MAX_SIZE, 0x10000);
    assert.equal(EBDA_START, 0xa0000);
    assert.equal(HIGH_RAM_START, 0x100000);
    assert.equal(MEM_32BIT_RESERVED_START, 3 * GiB);
    assert.equal(RAM_64BIT_START, 4 * GiB);
    assert.equal(IOAPIC_START, 0xfec00000);
    assert.equal(APIC_START, 0xfee00000);
  });

  it('derives the 32-bit hole sub-ranges from each other without overlap', () => {
    assert.equal(MEM_32BIT_DEVICES_START, MEM_32BIT_RESERVED_START);
    assert.equal(PCI_MMCONFIG_START, MEM_32BIT_DEVICES_START + MEM_32BIT_DEVICES_SIZE);
    assert.equal(PCI_MMCONFIG_START, 0xe8000000);
    assert.equal(MEM_32BIT_RESERVED_SIZE, 896 * MiB);
    assert.equal(KVM_TSS_START, PCI_MMCONFIG_START + PCI_MMCONFIG_SIZE);
    assert.equal(KVM_IDENTITY_MAP_START, KVM_TSS_START + KVM_TSS_SIZE);
    assert.equal(KVM_IDENTITY_MAP_START, 0xf8003000);
  });

  it('puts the GED register in the free part of the hole, between the KVM identity map and the IOAPIC, on ISA IRQ 5', () => {
    assert.equal(GED_MMIO_START, 0xfea00000);
    assert.ok(GED_MMIO_START >= KVM_IDENTITY_MAP_START + KVM_IDENTITY_MAP_SIZE);
    assert.ok(GED_MMIO_START + GED_MMIO_SIZE <= IOAPIC_START);
    assert.equal(GED_IRQ, COM1_IRQ + 1, "Cloud Hypervisor's first allocated IRQ, after the serial's");
  });

  it('keeps the PVH structures inside their slots below the boot stack', () => {
    assert.ok(PVH_INFO_START + 0x38 <= MODLIST_START);
    assert.ok(MODLIST_START + 0x20 <= MEMMAP_START);
    assert.ok(CMDLINE_START + CMDLINE_MAX_SIZE <= EBDA_START);
  });
});

describe('ramRegions', () => {
  it('puts RAM that fits below 3 GiB in one region from 0', () => {
    assert.deepEqual(ramRegions(512 * MiB), [{ guestBase: 0, size: 512 * MiB }]);
    assert.deepEqual(ramRegions(3 * GiB), [{ guestBase: 0, size: 3 * GiB }]);
  });

  it('continues RAM above 3 GiB at 4 GiB', () => {
    assert.deepEqual(ramRegions(3 * GiB + 4096), [
      { guestBase: 0, size: 3 * GiB },
      { guestBase: 4 * GiB, size: 4096 },
    ]);
    assert.deepEqual(ramRegions(8 * GiB), [
      { guestBase: 0, size: 3 * GiB },
      { guestBase: 4 * GiB, size: 5 * GiB },
    ]);
  });

  it('accepts exactly the minimum and rejects one page less', () => {
    assert.deepEqual(ramRegions(MIN_MEMORY_SIZE), [{ guestBase: 0, size: 2 * MiB }]);
    assert.throws(() => ramRegions(MIN_MEMORY_SIZE - 4096), (e: unknown) => e instanceof LayoutError && e.code === 'MEMORY_TOO_SMALL');
  });

  it('rejects sizes that are not whole pages', () => {
    assert.throws(
      () => ramRegions(512 * MiB + 1),
      (e: unknown) => e instanceof LayoutError && e.code === 'MEMORY_SIZE_UNALIGNED' && /multiple of 4 KiB/.test(e.message),
    );
  });

  it('rejects zero, negative, fractional and unsafe sizes', () => {
    for (const size of [0, -4096, 4096.5, Number.NaN, 2 ** 60]) {
      assert.throws(() => ramRegions(size), (e: unknown) => e instanceof LayoutError && e.code === 'MEMORY_SIZE_INVALID', String(size));
    }
  });
});
