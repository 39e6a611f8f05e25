/**
 * FADT ("FACP", revision 6, minor version 3, 276 bytes; ACPI 6.5 §5.2.9) for a hardware-reduced ACPI platform:
 * no SCI/PM1 blocks; power-off and reset go through one I/O port (sleep control/status and reset registers, as
 * Cloud Hypervisor's ACPI shutdown device), the PM timer is a 32-bit I/O port, and X_DSDT points at the DSDT. Pure.
 */
import { ACPI_PM_PORT_START, ACPI_PM_TIMER_PORT } from '../../arch/x86_64/layout.ts';
import { finishSdt, SDT_HEADER, startSdt } from './sdt.ts';
import { writeIoPortRegister } from './generic-address.ts';

export const FADT_REVISION = 6;
export const FADT_MINOR_VERSION = 3;

/** Field offsets of the FADT (fields not listed stay zero). */
export const FADT = {
  pmTimerLength: 91,
  flags: 112,
  resetRegister: 116,
  resetValue: 128,
  minorVersion: 131,
  xDsdt: 140,
  xPmTimerBlock: 208,
  sleepControlRegister: 244,
  sleepStatusRegister: 256,
  hypervisorVendorIdentity: 268,
  size: 276,
} as const;

/** Fixed feature flags (FADT offset 112). */
export const FADT_FLAGS = {
  TMR_VAL_EXT: 1 << 8,
  RESET_REG_SUP: 1 << 10,
  HW_REDUCED_ACPI: 1 << 20,
} as const;

/** Value the guest writes to the reset register to reset the machine. */
export const ACPI_RESET_VALUE = 1;
export const HYPERVISOR_VENDOR_IDENTITY = 'NIMBUSVM';

/** Builds the FADT pointing at the DSDT at `dsdtAddress`. */
export function buildFadt(dsdtAddress: number): Uint8Array {
  const writer = startSdt('FACP', FADT_REVISION);
  writer.zeros(FADT.size - SDT_HEADER.size);
  // The 32-bit PM_TMR_BLK stays zero; its length matches X_PM_TMR_BLK so OSPMs do not report a width mismatch.
  writer.seek(FADT.pmTimerLength).u8(4);
  writer.seek(FADT.flags).u32(FADT_FLAGS.HW_REDUCED_ACPI | FADT_FLAGS.RESET_REG_SUP | FADT_FLAGS.TMR_VAL_EXT);
  writeIoPortRegister(writer, FADT.resetRegister, ACPI_PM_PORT_START, 8);
  writer.seek(FADT.resetValue).u8(ACPI_RESET_VALUE);
  writer.seek(FADT.minorVersion).u8(FADT_MINOR_VERSION);
  writer.seek(FADT.xDsdt).u64(dsdtAddress);
  writeIoPortRegister(writer, FADT.xPmTimerBlock, ACPI_PM_TIMER_PORT, 32);
  writeIoPortRegister(writer, FADT.sleepControlRegister, ACPI_PM_PORT_START, 8);
  writeIoPortRegister(writer, FADT.sleepStatusRegister, ACPI_PM_PORT_START, 8);
  writer.seek(FADT.hypervisorVendorIdentity).fixedAscii(HYPERVISOR_VENDOR_IDENTITY, 8);
  return finishSdt(writer);
}
