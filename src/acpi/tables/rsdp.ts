/**
 * RSDP (ACPI 2.0+ Root System Description Pointer, 36 bytes; ACPI 6.5 §5.2.5.3): points the guest at the XSDT.
 * It has two checksums: one over the first 20 (ACPI 1.0) bytes and an extended one over all 36. Pure.
 */
import { ByteWriter } from '../../abi/byte-writer.ts';
import { acpiChecksum, OEM_ID } from './sdt.ts';

/** Field offsets of the RSDP. */
export const RSDP = {
  signature: 0,
  checksum: 8,
  oemId: 9,
  revision: 15,
  rsdtAddress: 16,
  length: 20,
  xsdtAddress: 24,
  extendedChecksum: 32,
  /** Bytes covered by the ACPI 1.0 checksum. */
  v1Size: 20,
  size: 36,
} as const;

export const RSDP_SIGNATURE = 'RSD PTR ';
/** Revision 2 = ACPI 2.0 and later (XSDT present). */
export const RSDP_REVISION = 2;

export function buildRsdp(xsdtAddress: number): Uint8Array {
  const rsdp = new ByteWriter(RSDP.size)
    .fixedAscii(RSDP_SIGNATURE, 8)
    .u8(0)
    .fixedAscii(OEM_ID, 6)
    .u8(RSDP_REVISION)
    .u32(0)
    .u32(RSDP.size)
    .u64(xsdtAddress)
    .u8(0)
    .zeros(3)
    .toBytes();
  rsdp[RSDP.checksum] = acpiChecksum(rsdp.subarray(0, RSDP.v1Size));
  rsdp[RSDP.extendedChecksum] = acpiChecksum(rsdp);
  return rsdp;
}
