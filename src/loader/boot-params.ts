/**
 * The Linux zero page (`struct boot_params`, arch/x86/include/uapi/asm/bootparam.h) for the 64-bit boot protocol:
 * the kernel's setup header copied at 0x1F1 with the loader fields filled in (type_of_loader, loadflags, command
 * line and ramdisk pointers), the e820 table and the ACPI RSDP address. Pure: no node:* imports.
 */
import { ByteWriter } from '../abi/byte-writer.ts';
import type { E820Entry } from '../arch/x86_64/e820.ts';
import { LOADFLAGS, SETUP_HEADER } from './bzimage.ts';
import type { InitramfsPlacement } from './initramfs.ts';
import { LoaderError } from './loader-error.ts';

/** struct boot_params field offsets (those outside the setup header). */
export const BOOT_PARAMS = {
  SIZE: 0x1000,
  ACPI_RSDP_ADDR: 0x070,
  EXT_RAMDISK_IMAGE: 0x0c0,
  EXT_RAMDISK_SIZE: 0x0c4,
  EXT_CMD_LINE_PTR: 0x0c8,
  E820_ENTRIES: 0x1e8,
  SETUP_HEADER: SETUP_HEADER.START,
  E820_TABLE: 0x2d0,
} as const;

/** struct boot_e820_entry (packed, 20 bytes). */
export const BOOT_E820_ENTRY = {
  ADDR: 0x00,
  SIZE: 0x08,
  TYPE: 0x10,
  LENGTH: 0x14,
} as const;

/** E820_MAX_ENTRIES_ZEROPAGE: capacity of boot_params.e820_table. */
export const E820_TABLE_MAX_ENTRIES = 128;

/** type_of_loader value for a boot loader without an assigned id. */
export const LOADER_TYPE_UNDEFINED = 0xff;

export interface BootParamsInput {
  /** The kernel's setup header bytes (from file offset 0x1F1), see BzImage.headerBytes. */
  readonly setupHeader: Uint8Array;
  readonly cmdlineAddress: number;
  readonly initramfs?: InitramfsPlacement | undefined;
  readonly e820: readonly E820Entry[];
  /** ACPI RSDP address; when omitted the kernel scans the EBDA and BIOS area for it. */
  readonly rsdpAddress?: number | undefined;
}

const TWO_POW_32 = 2 ** 32;

/**
 * Builds the 4096-byte zero page. loadflags keeps LOADED_HIGH (the kernel sits at 1 MiB or above) and clears
 * CAN_USE_HEAP: that flag tells the 16-bit setup code that heap_end_ptr is valid, and the 64-bit entry never runs
 * the setup code.
 */
export function buildBootParams(input: BootParamsInput): Uint8Array {
  const headerEnd = BOOT_PARAMS.SETUP_HEADER + input.setupHeader.length;
  if (headerEnd <= SETUP_HEADER.INIT_SIZE || headerEnd > SETUP_HEADER.MAX_END) {
    throw new LoaderError('BOOT_SETUP_INVALID', `setup header of ${input.setupHeader.length} bytes does not fit boot_params`);
  }
  if (input.e820.length > E820_TABLE_MAX_ENTRIES) {
    throw new LoaderError('BOOT_SETUP_INVALID', `the e820 map has ${input.e820.length} entries; boot_params holds at most ${E820_TABLE_MAX_ENTRIES}`);
  }
  const page = new ByteWriter(BOOT_PARAMS.SIZE).zeros(BOOT_PARAMS.SIZE);
  page.seek(BOOT_PARAMS.SETUP_HEADER).bytes(input.setupHeader);

  const loadflags = input.setupHeader[SETUP_HEADER.LOADFLAGS - SETUP_HEADER.START]!;
  page.patchU8(SETUP_HEADER.TYPE_OF_LOADER, LOADER_TYPE_UNDEFINED);
  page.patchU8(SETUP_HEADER.LOADFLAGS, (loadflags | LOADFLAGS.LOADED_HIGH) & ~LOADFLAGS.CAN_USE_HEAP);
  patchSplit(page, SETUP_HEADER.CMD_LINE_PTR, BOOT_PARAMS.EXT_CMD_LINE_PTR, input.cmdlineAddress);
  if (input.initramfs) {
    patchSplit(page, SETUP_HEADER.RAMDISK_IMAGE, BOOT_PARAMS.EXT_RAMDISK_IMAGE, input.initramfs.address);
    patchSplit(page, SETUP_HEADER.RAMDISK_SIZE, BOOT_PARAMS.EXT_RAMDISK_SIZE, input.initramfs.size);
  }
  page.seek(BOOT_PARAMS.ACPI_RSDP_ADDR).u64(input.rsdpAddress ?? 0);

  page.patchU8(BOOT_PARAMS.E820_ENTRIES, input.e820.length);
  input.e820.forEach((entry, i) => {
    const at = BOOT_PARAMS.E820_TABLE + i * BOOT_E820_ENTRY.LENGTH;
    page.seek(at + BOOT_E820_ENTRY.ADDR).u64(entry.addr);
    page.seek(at + BOOT_E820_ENTRY.SIZE).u64(entry.size);
    page.patchU32(at + BOOT_E820_ENTRY.TYPE, entry.type);
  });
  return page.toBytes();
}

/** Writes the low 32 bits of `value` in the setup header field and the high 32 bits in its boot_params ext_ field. */
function patchSplit(page: ByteWriter, lowOffset: number, highOffset: number, value: number): void {
  page.patchU32(lowOffset, value % TWO_POW_32);
  page.patchU32(highOffset, Math.floor(value / TWO_POW_32));
}
