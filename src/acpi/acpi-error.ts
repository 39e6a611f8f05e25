/**
 * The ACPI module's error class. Every failure while encoding AML or laying out the tables (a bad configuration
 * value, a name or number AML cannot represent, tables that do not fit their window) is an AcpiError with one of
 * the stable codes below.
 */
import { NimbusError } from '../errors/nimbus-error.ts';

export type AcpiErrorCode =
  /** A NameSeg/NameString that AML cannot encode (bad characters, segment longer than 4). */
  | 'INVALID_NAME'
  /** An integer outside the range its encoding allows. */
  | 'INVALID_INTEGER'
  /** A string with characters AML strings cannot hold. */
  | 'INVALID_STRING'
  /** An EISA id that is not three upper-case letters followed by four hex digits. */
  | 'INVALID_EISA_ID'
  /** A term whose encoded size exceeds what a PkgLength can express (256 MiB). */
  | 'AML_TOO_LARGE'
  /** A malformed AML term argument (argument count, local index, field layout). */
  | 'INVALID_AML_ARGUMENT'
  /** A resource descriptor with values outside its field widths. */
  | 'INVALID_RESOURCE'
  /** Bad vCPU counts or APIC ids. */
  | 'INVALID_CPU_CONFIG'
  /** A PCI segment with a bad id, ECAM range or MMIO window. */
  | 'INVALID_PCI_SEGMENT'
  /** An RSDP address that is not usable. */
  | 'INVALID_RSDP_ADDRESS'
  /** The tables do not fit between the RSDP address and the end of their window. */
  | 'TABLES_TOO_LARGE'
  /** The table window is not backed by guest RAM. */
  | 'OUTSIDE_GUEST_MEMORY';

export class AcpiError extends NimbusError<AcpiErrorCode> {}
