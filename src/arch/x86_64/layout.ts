/**
 * The x86-64 guest physical address map, identical to Cloud Hypervisor's (arch/src/x86_64/layout.rs): where the
 * boot structures live below 1 MiB, where the kernel is loaded, and the 32-bit hole below 4 GiB that holds the PCI
 * device window, PCI MMCONFIG, the KVM TSS/identity map, the ACPI GED register (Nimbus's one departure), the IOAPIC
 * and the local APIC. `ramRegions` splits a RAM size around that hole. Pure: no node:* imports.
 */
import { NimbusError } from '../../errors/nimbus-error.ts';

export type LayoutErrorCode = 'MEMORY_SIZE_INVALID' | 'MEMORY_SIZE_UNALIGNED' | 'MEMORY_TOO_SMALL' | 'RAM_LAYOUT_INVALID';

export class LayoutError extends NimbusError<LayoutErrorCode> {}

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** Guest page size used for RAM sizes and for placing the initramfs. */
export const PAGE_SIZE = 4 * KiB;

// ---- Low RAM (0 .. 640 KiB) ----
export const LOW_RAM_START = 0x0;
/** BIOS data area word holding the EBDA segment (EBDA_START >> 4), where ACPICA looks for the RSDP. */
export const EBDA_POINTER = 0x40e;
export const BOOT_GDT_START = 0x500;
export const BOOT_IDT_START = 0x520;
/** PVH `struct hvm_start_info` (RBX at the PVH entry points here). */
export const PVH_INFO_START = 0x6000;
/** PVH module list (`struct hvm_modlist_entry[]`), used for the initramfs. */
export const MODLIST_START = 0x6040;
/** PVH memory map (`struct hvm_memmap_table_entry[]`); shares its page with the zero page (the protocols exclude each other). */
export const MEMMAP_START = 0x7000;
/** Linux `struct boot_params` (RSI at the 64-bit bzImage entry points here). */
export const ZERO_PAGE_START = 0x7000;
export const BOOT_STACK_START = 0x8000;
export const BOOT_STACK_POINTER = 0x8ff0;
/** Initial identity-mapping page tables built by the vCPU setup. */
export const PML5_START = 0x9000;
export const PML4_START = 0xa000;
export const PDPTE_START = 0xb000;
export const PDE_START = 0xc000;
export const CMDLINE_START = 0x20000;
/** Bytes reserved for the command line, including its terminating NUL. */
export const CMDLINE_MAX_SIZE = 0x10000;
export const MPTABLE_START = 0x9fc00;

// ---- EBDA / BIOS area (640 KiB .. 1 MiB): backed by RAM but not reported as RAM in the e820 map ----
export const EBDA_START = 0xa0000;
/** The ACPI RSDP is written at the start of the EBDA. */
export const RSDP_POINTER = EBDA_START;
export const SMBIOS_START = 0xf0000;

// ---- High RAM (1 MiB .. 3 GiB) ----
/** Where kernels are loaded (ELF segments must not go below it). */
export const HIGH_RAM_START = 0x100000;

// ---- 32-bit reserved hole (3 GiB .. 4 GiB) ----
export const MEM_32BIT_RESERVED_START = 0xc000_0000;
/** 32-bit PCI BAR window at the start of the hole. */
export const MEM_32BIT_DEVICES_START = MEM_32BIT_RESERVED_START;
export const MEM_32BIT_DEVICES_SIZE = 640 * MiB;
/** ECAM space of one PCI bus: 32 devices x 8 functions x 4 KiB. Each segment has one bus. */
export const ECAM_BYTES_PER_BUS = 1 << 20;
/** PCI ECAM (MMCONFIG): 1 MiB per PCI segment. */
export const PCI_MMCONFIG_START = 0xe800_0000;
export const PCI_MMCONFIG_SIZE = 256 * MiB;
/** Size of the reserved hole as Cloud Hypervisor defines it (devices + MMCONFIG); the hole itself ends at 4 GiB. */
export const MEM_32BIT_RESERVED_SIZE = MEM_32BIT_DEVICES_SIZE + PCI_MMCONFIG_SIZE;
export const KVM_TSS_START = 0xf800_0000;
export const KVM_TSS_SIZE = 12 * KiB;
export const KVM_IDENTITY_MAP_START = 0xf800_3000;
export const KVM_IDENTITY_MAP_SIZE = 4 * KiB;
/**
 * The ACPI Generic Event Device's notification register (1 byte, MMIO), named by the DSDT's `\_SB_.GEC_`.
 * Cloud Hypervisor allocates it at the start of its platform device area, the last MiB below the top of the guest
 * physical address space, which moves with phys_bits; Nimbus fixes it in the free part of the 32-bit hole below
 * the IOAPIC (where QEMU's microvm also puts its GED), so the DSDT can name it without knowing phys_bits.
 */
export const GED_MMIO_START = 0xfea0_0000;
export const GED_MMIO_SIZE = 1;
export const IOAPIC_START = 0xfec0_0000;
export const IOAPIC_SIZE = 0x20;
export const TPM_START = 0xfed4_0000;
export const TPM_SIZE = 0x1000;
export const APIC_START = 0xfee0_0000;

// ---- Legacy port I/O (Cloud Hypervisor's platform devices) ----
/** i8042 (reset only): ports 0x61..0x64. */
export const I8042_PORT_START = 0x61;
/** CMOS/RTC index and data ports. */
export const CMOS_PORT_START = 0x70;
/** POST/debug port. */
export const DEBUG_PORT = 0x80;
/** COM1, a 16550A UART (8 ports) on ISA IRQ 4. */
export const COM1_PORT_START = 0x3f8;
export const COM1_PORT_COUNT = 8;
export const COM1_IRQ = 4;
/**
 * The GED's interrupt: ISA IRQ 5 = GSI 5 on the IOAPIC, edge-triggered, active high (its DSDT _CRS). Cloud
 * Hypervisor gives the GED the first IRQ its allocator hands out, X86_64_IRQ_BASE = 5, the next after the serial's 4.
 */
export const GED_IRQ = 5;
/** Firmware debug port (bytes printed to stdout). */
export const FW_DEBUG_PORT = 0x402;
/** ACPI hardware-reduced sleep control/status and reset register (the FADT points here). */
export const ACPI_PM_PORT_START = 0x600;
/** PCI configuration mechanism #1: CONFIG_ADDRESS at 0xCF8, CONFIG_DATA at 0xCFC (segment 0 only). */
export const PCI_CONFIG_IO_PORT = 0xcf8;
export const PCI_CONFIG_IO_PORT_COUNT = 8;
/** ACPI PM timer (the FADT's X_PM_TMR_BLK). */
export const ACPI_PM_TIMER_PORT = 0x608;

// ---- 64-bit RAM (4 GiB ..) ----
export const RAM_64BIT_START = 4 * GiB;

/**
 * Smallest RAM that can boot anything: everything below HIGH_RAM_START is taken by the fixed boot structures
 * (boot GDT, start info / zero page, stack, page tables, command line, MP table, EBDA/RSDP, SMBIOS), and the kernel is
 * loaded at HIGH_RAM_START, so at least one MiB of high RAM is needed on top. Each loader then checks that its own
 * kernel's footprint (a Linux kernel needs tens of MiB) fits in the RAM given.
 */
export const MIN_MEMORY_SIZE = HIGH_RAM_START + 1 * MiB;

/** A guest-physical RAM range. */
export interface RamRegion {
  readonly guestBase: number;
  readonly size: number;
}

/**
 * Splits `memorySizeBytes` of RAM around the 32-bit hole: RAM from 0 up to 3 GiB, the rest from 4 GiB.
 * Throws LayoutError for sizes that are not positive whole multiples of 4 KiB or below MIN_MEMORY_SIZE.
 */
export function ramRegions(memorySizeBytes: number): RamRegion[] {
  if (!Number.isSafeInteger(memorySizeBytes) || memorySizeBytes <= 0) {
    throw new LayoutError('MEMORY_SIZE_INVALID', `memory size ${String(memorySizeBytes)} is not a positive whole number of bytes`);
  }
  if (memorySizeBytes % PAGE_SIZE !== 0) {
    throw new LayoutError(
      'MEMORY_SIZE_UNALIGNED',
      `memory size ${memorySizeBytes} bytes is not a multiple of 4 KiB; round it to whole pages (for example ${Math.ceil(memorySizeBytes / PAGE_SIZE) * PAGE_SIZE})`,
    );
  }
  if (memorySizeBytes < MIN_MEMORY_SIZE) {
    throw new LayoutError(
      'MEMORY_TOO_SMALL',
      `memory size ${memorySizeBytes} bytes is too small to boot: the first MiB holds the boot structures and the kernel is loaded at 1 MiB, so at least ${MIN_MEMORY_SIZE / MiB} MiB are needed`,
    );
  }
  const below4G = Math.min(memorySizeBytes, MEM_32BIT_RESERVED_START);
  const regions: RamRegion[] = [{ guestBase: LOW_RAM_START, size: below4G }];
  if (memorySizeBytes > below4G) regions.push({ guestBase: RAM_64BIT_START, size: memorySizeBytes - below4G });
  return regions;
}
