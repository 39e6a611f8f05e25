/**
 * The 36-byte System Description Table header shared by every ACPI table except the RSDP (ACPI 6.5 §5.2.6), the
 * Nimbus OEM identity written into it, and the checksum rule (all bytes of a table sum to zero mod 256). Table
 * builders start a ByteWriter with `startSdt`, append their body, and seal it with `finishSdt`. Pure.
 */
import { ByteWriter } from '../../abi/byte-writer.ts';

/** Field offsets of the SDT header. */
export const SDT_HEADER = {
  signature: 0,
  length: 4,
  revision: 8,
  checksum: 9,
  oemId: 10,
  oemTableId: 16,
  oemRevision: 24,
  creatorId: 28,
  creatorRevision: 32,
  size: 36,
} as const;

/** OEM id written in the RSDP and every SDT header. */
export const OEM_ID = 'NIMBUS';
/** OEM table ids are this prefix followed by the table signature, padded with spaces to 8 bytes ("NBDSDT  "). */
export const OEM_TABLE_ID_PREFIX = 'NB';
export const OEM_REVISION = 1;
/** Vendor id and revision of the tool that created the tables (Nimbus itself). */
export const CREATOR_ID = 'NMBS';
export const CREATOR_REVISION = 1;

const SPACE = 0x20;

/** The byte that, stored in a zeroed checksum field, makes `bytes` sum to zero mod 256. */
export function acpiChecksum(bytes: Uint8Array): number {
  let sum = 0;
  for (const byte of bytes) sum = (sum + byte) & 0xff;
  return (0x100 - sum) & 0xff;
}

/** A writer holding an SDT header for `signature` with length and checksum still zero, positioned after it. */
export function startSdt(signature: string, revision: number): ByteWriter {
  return new ByteWriter(1024)
    .fixedAscii(signature, 4)
    .u32(0)
    .u8(revision)
    .u8(0)
    .fixedAscii(OEM_ID, 6)
    .fixedAscii(OEM_TABLE_ID_PREFIX + signature, 8, SPACE)
    .u32(OEM_REVISION)
    .fixedAscii(CREATOR_ID, 4)
    .u32(CREATOR_REVISION);
}

/** Patches the header's length and checksum and returns the finished table. */
export function finishSdt(writer: ByteWriter): Uint8Array {
  writer.patchU32(SDT_HEADER.length, writer.length).patchU8(SDT_HEADER.checksum, 0);
  const table = writer.toBytes();
  table[SDT_HEADER.checksum] = acpiChecksum(table);
  return table;
}
