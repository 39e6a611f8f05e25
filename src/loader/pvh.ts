/**
 * PVH boot data (xen/include/public/arch-x86/hvm/start_info.h): `struct hvm_start_info` at PVH_INFO_START, the
 * memory map (`struct hvm_memmap_table_entry[]`) at MEMMAP_START and, with an initramfs, one
 * `struct hvm_modlist_entry` at MODLIST_START. Pure: no node:* imports.
 */
import { ByteWriter } from '../abi/byte-writer.ts';
import type { E820Entry } from '../arch/x86_64/e820.ts';
import { BOOT_STACK_START, MEMMAP_START, MODLIST_START, PVH_INFO_START } from '../arch/x86_64/layout.ts';
import type { GuestMemory } from '../memory/guest-memory.ts';
import type { InitramfsPlacement } from './initramfs.ts';
import { LoaderError } from './loader-error.ts';

/** struct hvm_start_info field offsets (version 1 layout). */
export const HVM_START_INFO = {
  MAGIC: 0x00,
  VERSION: 0x04,
  FLAGS: 0x08,
  NR_MODULES: 0x0c,
  MODLIST_PADDR: 0x10,
  CMDLINE_PADDR: 0x18,
  RSDP_PADDR: 0x20,
  MEMMAP_PADDR: 0x28,
  MEMMAP_ENTRIES: 0x30,
  RESERVED: 0x34,
  LENGTH: 0x38,
} as const;

/** struct hvm_modlist_entry field offsets. */
export const HVM_MODLIST_ENTRY = {
  PADDR: 0x00,
  SIZE: 0x08,
  CMDLINE_PADDR: 0x10,
  RESERVED: 0x18,
  LENGTH: 0x20,
} as const;

/** struct hvm_memmap_table_entry field offsets. */
export const HVM_MEMMAP_ENTRY = {
  ADDR: 0x00,
  SIZE: 0x08,
  TYPE: 0x10,
  RESERVED: 0x14,
  LENGTH: 0x18,
} as const;

export const HVM_START_MAGIC = 0x336ec578;
/** Version 1 added the memory map fields. */
export const HVM_START_INFO_VERSION = 1;
/** The memory map may fill its page up to the boot stack. */
export const MEMMAP_MAX_ENTRIES = Math.floor((BOOT_STACK_START - MEMMAP_START) / HVM_MEMMAP_ENTRY.LENGTH);

export interface PvhStartInfoInput {
  readonly cmdlineAddress: number;
  /** Passed as module 0 (the Linux PVH entry takes the first module as its initrd). */
  readonly initramfs?: InitramfsPlacement | undefined;
  readonly e820: readonly E820Entry[];
  /** ACPI RSDP address; when omitted rsdp_paddr is 0 and the guest searches for it. */
  readonly rsdpAddress?: number | undefined;
}

/** Writes the start info, memory map and module list; returns the start info address (RBX at the PVH entry). */
export function writePvhStartInfo(memory: GuestMemory, input: PvhStartInfoInput): number {
  if (input.e820.length > MEMMAP_MAX_ENTRIES) {
    throw new LoaderError('BOOT_SETUP_INVALID', `the memory map has ${input.e820.length} entries; the PVH memmap area holds at most ${MEMMAP_MAX_ENTRIES}`);
  }
  const memmap = new ByteWriter().zeros(input.e820.length * HVM_MEMMAP_ENTRY.LENGTH);
  input.e820.forEach((entry, i) => {
    const at = i * HVM_MEMMAP_ENTRY.LENGTH;
    memmap.seek(at + HVM_MEMMAP_ENTRY.ADDR).u64(entry.addr);
    memmap.seek(at + HVM_MEMMAP_ENTRY.SIZE).u64(entry.size);
    memmap.seek(at + HVM_MEMMAP_ENTRY.TYPE).u32(entry.type);
  });

  // Fields not set here (flags, reserved) stay 0.
  const startInfo = new ByteWriter().zeros(HVM_START_INFO.LENGTH);
  startInfo.seek(HVM_START_INFO.MAGIC).u32(HVM_START_MAGIC);
  startInfo.seek(HVM_START_INFO.VERSION).u32(HVM_START_INFO_VERSION);
  startInfo.seek(HVM_START_INFO.CMDLINE_PADDR).u64(input.cmdlineAddress);
  startInfo.seek(HVM_START_INFO.RSDP_PADDR).u64(input.rsdpAddress ?? 0);
  startInfo.seek(HVM_START_INFO.MEMMAP_PADDR).u64(MEMMAP_START);
  startInfo.seek(HVM_START_INFO.MEMMAP_ENTRIES).u32(input.e820.length);

  if (input.initramfs) {
    startInfo.seek(HVM_START_INFO.NR_MODULES).u32(1);
    startInfo.seek(HVM_START_INFO.MODLIST_PADDR).u64(MODLIST_START);
    // The module's cmdline_paddr and reserved fields stay 0.
    const module = new ByteWriter().zeros(HVM_MODLIST_ENTRY.LENGTH);
    module.seek(HVM_MODLIST_ENTRY.PADDR).u64(input.initramfs.address);
    module.seek(HVM_MODLIST_ENTRY.SIZE).u64(input.initramfs.size);
    memory.write(MODLIST_START, module.toBytes());
  }
  memory.write(MEMMAP_START, memmap.toBytes());
  memory.write(PVH_INFO_START, startInfo.toBytes());
  return PVH_INFO_START;
}
