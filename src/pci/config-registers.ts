/**
 * The PCI configuration space layout, declared once: the type 0 header's register offsets, the command and status
 * bits, BAR encoding bits and the capability IDs Nimbus uses (PCI Local Bus 3.0 §6.1-6.8, PCI Express Base §7.5).
 * Every offset is a byte offset into a function's 4 KiB configuration space; values are little-endian.
 * Pure: no node:* imports.
 */

/** Bytes of configuration space per function: 256 standard + 3840 extended (PCI Express). */
export const PCI_CONFIG_SPACE_BYTES = 4096;
/** Bytes of the standard (conventional PCI) part, where the header and capability list live. */
export const PCI_STANDARD_CONFIG_BYTES = 256;

/** Type 0 header register offsets. */
export const PCI_CONFIG = {
  VENDOR_ID: 0x00,
  DEVICE_ID: 0x02,
  COMMAND: 0x04,
  STATUS: 0x06,
  REVISION_ID: 0x08,
  /** Programming interface, subclass and base class: three bytes from here (low to high). */
  CLASS_CODE: 0x09,
  CACHE_LINE_SIZE: 0x0c,
  LATENCY_TIMER: 0x0d,
  HEADER_TYPE: 0x0e,
  BIST: 0x0f,
  /** BAR n is the dword at BAR0 + 4 * n, n = 0..5. */
  BAR0: 0x10,
  CARDBUS_CIS: 0x28,
  SUBSYSTEM_VENDOR_ID: 0x2c,
  SUBSYSTEM_ID: 0x2e,
  EXPANSION_ROM: 0x30,
  CAPABILITIES_POINTER: 0x34,
  INTERRUPT_LINE: 0x3c,
  INTERRUPT_PIN: 0x3d,
  MIN_GRANT: 0x3e,
  MAX_LATENCY: 0x3f,
} as const;

/** Number of BAR registers in a type 0 header. */
export const PCI_BAR_COUNT = 6;

/** Command register bits. */
export const PCI_COMMAND = {
  IO_SPACE: 0x0001,
  MEMORY_SPACE: 0x0002,
  BUS_MASTER: 0x0004,
  PARITY_ERROR_RESPONSE: 0x0040,
  SERR_ENABLE: 0x0100,
  INTX_DISABLE: 0x0400,
} as const;

/** Command bits a guest can change; the others (special cycles, MWI, VGA snoop, fast back-to-back) read 0. */
export const PCI_COMMAND_WRITABLE =
  PCI_COMMAND.IO_SPACE |
  PCI_COMMAND.MEMORY_SPACE |
  PCI_COMMAND.BUS_MASTER |
  PCI_COMMAND.PARITY_ERROR_RESPONSE |
  PCI_COMMAND.SERR_ENABLE |
  PCI_COMMAND.INTX_DISABLE;

/** Status register bits. */
export const PCI_STATUS = {
  INTERRUPT: 0x0008,
  CAPABILITIES_LIST: 0x0010,
  MASTER_DATA_PARITY_ERROR: 0x0100,
  SIGNALED_TARGET_ABORT: 0x0800,
  RECEIVED_TARGET_ABORT: 0x1000,
  RECEIVED_MASTER_ABORT: 0x2000,
  SIGNALED_SYSTEM_ERROR: 0x4000,
  DETECTED_PARITY_ERROR: 0x8000,
} as const;

/** Status bits that are write-1-to-clear (the error bits); every other status bit is read-only. */
export const PCI_STATUS_WRITE_1_TO_CLEAR =
  PCI_STATUS.MASTER_DATA_PARITY_ERROR |
  PCI_STATUS.SIGNALED_TARGET_ABORT |
  PCI_STATUS.RECEIVED_TARGET_ABORT |
  PCI_STATUS.RECEIVED_MASTER_ABORT |
  PCI_STATUS.SIGNALED_SYSTEM_ERROR |
  PCI_STATUS.DETECTED_PARITY_ERROR;

/** Header type byte: layout 0 (a function, not a bridge); bit 7 marks a multi-function device. */
export const PCI_HEADER_TYPE = {
  FUNCTION: 0x00,
  MULTI_FUNCTION: 0x80,
} as const;

/** Low bits of a BAR register. */
export const PCI_BAR_BITS = {
  /** Bit 0: 1 = I/O space BAR. */
  IO_SPACE: 0x1,
  /** Bits 2:1 of a memory BAR = 10b: a 64-bit BAR whose upper half is the next BAR register. */
  MEMORY_64BIT: 0x4,
  /** Bit 3 of a memory BAR. */
  PREFETCHABLE: 0x8,
  /** Address bits of an I/O BAR (all 32 are writable; x86 only decodes addresses below 0x10000). */
  IO_ADDRESS_MASK: 0xffff_fffc,
  /** Address bits of a memory BAR's low dword. */
  MEMORY_ADDRESS_MASK: 0xffff_fff0,
} as const;

/** Where the capability list lives: the first capability follows the header; all of them sit below 0x100. */
export const PCI_CAPABILITY_AREA = {
  START: 0x40,
  END: PCI_STANDARD_CONFIG_BYTES,
  /** Each capability starts with its ID byte and the offset of the next one (0 ends the list). */
  ID: 0,
  NEXT: 1,
  HEADER_BYTES: 2,
} as const;

/** Capability IDs Nimbus builds. */
export const PCI_CAPABILITY_ID = {
  VENDOR_SPECIFIC: 0x09,
  MSIX: 0x11,
} as const;
