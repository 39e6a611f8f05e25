/**
 * The e820 memory map handed to the guest by both boot protocols (the zero page's e820_table and the PVH memmap):
 * RAM 0..640 KiB, RAM 1 MiB..min(end, 3 GiB), RAM 4 GiB..end, and PCI MMCONFIG reserved, in Cloud Hypervisor's
 * order. Pure: no node:* imports.
 */
import {
  EBDA_START,
  HIGH_RAM_START,
  LayoutError,
  LOW_RAM_START,
  MEM_32BIT_RESERVED_START,
  PCI_MMCONFIG_SIZE,
  PCI_MMCONFIG_START,
  RAM_64BIT_START,
  type RamRegion,
} from './layout.ts';

/** e820 / hvm_memmap range types (the two protocols share the values). */
export const E820_TYPE = {
  RAM: 1,
  RESERVED: 2,
  ACPI: 3,
  NVS: 4,
  UNUSABLE: 5,
  PMEM: 7,
} as const;

export type E820Type = (typeof E820_TYPE)[keyof typeof E820_TYPE];

export interface E820Entry {
  readonly addr: number;
  readonly size: number;
  readonly type: E820Type;
}

/**
 * Builds the e820 map for the given guest RAM regions (usually `ramRegions(size)` or `GuestMemory.regions`).
 * Adjacent regions are merged. The first RAM range must start at 0, reach past 1 MiB and end by 3 GiB; later
 * ranges must lie at or above 4 GiB. Anything else is a LayoutError.
 */
export function buildE820Map(regions: readonly RamRegion[]): E820Entry[] {
  const ranges = mergeAdjacent(regions);
  const [first, ...rest] = ranges;
  if (!first || first.start !== LOW_RAM_START || first.end <= HIGH_RAM_START || first.end > MEM_32BIT_RESERVED_START) {
    throw new LayoutError(
      'RAM_LAYOUT_INVALID',
      `guest RAM must start with one range from 0 past 1 MiB ending at or below 3 GiB; got ${describe(ranges)}`,
    );
  }
  const entries: E820Entry[] = [
    { addr: LOW_RAM_START, size: EBDA_START - LOW_RAM_START, type: E820_TYPE.RAM },
    { addr: HIGH_RAM_START, size: first.end - HIGH_RAM_START, type: E820_TYPE.RAM },
  ];
  for (const range of rest) {
    if (range.start < RAM_64BIT_START) {
      throw new LayoutError('RAM_LAYOUT_INVALID', `guest RAM range ${describe([range])} overlaps the 32-bit hole (3 GiB .. 4 GiB)`);
    }
    entries.push({ addr: range.start, size: range.end - range.start, type: E820_TYPE.RAM });
  }
  entries.push({ addr: PCI_MMCONFIG_START, size: PCI_MMCONFIG_SIZE, type: E820_TYPE.RESERVED });
  return entries;
}

interface Range {
  start: number;
  end: number;
}

function mergeAdjacent(regions: readonly RamRegion[]): Range[] {
  const sorted = [...regions].filter((r) => r.size > 0).sort((a, b) => a.guestBase - b.guestBase);
  const ranges: Range[] = [];
  for (const region of sorted) {
    const last = ranges[ranges.length - 1];
    const end = region.guestBase + region.size;
    if (last && region.guestBase < last.end) {
      throw new LayoutError('RAM_LAYOUT_INVALID', `guest RAM ranges overlap at 0x${region.guestBase.toString(16)}`);
    }
    if (last && region.guestBase === last.end) last.end = end;
    else ranges.push({ start: region.guestBase, end });
  }
  return ranges;
}

function describe(ranges: readonly Range[]): string {
  if (ranges.length === 0) return 'no RAM';
  return ranges.map((r) => `0x${r.start.toString(16)}..0x${r.end.toString(16)}`).join(', ');
}
