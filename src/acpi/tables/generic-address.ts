/**
 * The 12-byte Generic Address Structure (ACPI 6.5 §5.2.3.2) that FADT registers use to say where a register lives
 * (address space, width, access size, address). Pure.
 */
import type { ByteWriter } from '../../abi/byte-writer.ts';

/** Field offsets of a Generic Address Structure. */
export const GAS = {
  addressSpaceId: 0,
  registerBitWidth: 1,
  registerBitOffset: 2,
  accessSize: 3,
  address: 4,
  size: 12,
} as const;

export const GAS_ADDRESS_SPACE = { systemMemory: 0, systemIo: 1 } as const;
/** Access Size codes: 1 byte, 2 word, 3 dword, 4 qword. */
const ACCESS_SIZE_BY_WIDTH = { 8: 1, 16: 2, 32: 3, 64: 4 } as const;

export type RegisterWidth = keyof typeof ACCESS_SIZE_BY_WIDTH;

/** Writes, at `offset`, a GAS describing a `width`-bit register at I/O port `port`, accessed at its full width. */
export function writeIoPortRegister(writer: ByteWriter, offset: number, port: number, width: RegisterWidth): void {
  writer
    .seek(offset + GAS.addressSpaceId)
    .u8(GAS_ADDRESS_SPACE.systemIo)
    .u8(width)
    .u8(0)
    .u8(ACCESS_SIZE_BY_WIDTH[width])
    .u64(port);
}
