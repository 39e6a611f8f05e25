/**
 * What the ACPI tables describe (vCPUs, the serial port, PCI segments, where the RSDP goes) and its validation:
 * every bad value is rejected with an AcpiError naming the field before any table is built. Pure.
 */
import { ECAM_BYTES_PER_BUS, RSDP_POINTER, SMBIOS_START } from '../arch/x86_64/layout.ts';
import { AcpiError } from './acpi-error.ts';
import { MADT_ENTRY } from './tables/madt.ts';

/** A guest-physical address range. */
export interface AddressWindow {
  readonly base: number;
  readonly size: number;
}

export interface PciSegmentConfig {
  /** PCI segment group number (0-255); segment 0 also owns the 0xCF8 config ports and the legacy I/O space. */
  readonly id: number;
  /** ECAM window: 1 MiB per bus, starting at bus 0, below 4 GiB. */
  readonly ecam: AddressWindow;
  /** MMIO window for 32-bit BARs (below 4 GiB). */
  readonly mmio32: AddressWindow;
  /** MMIO window for 64-bit BARs. */
  readonly mmio64: AddressWindow;
}

export interface AcpiConfig {
  /** vCPUs online at boot (1..maxCpus). */
  readonly bootCpus: number;
  /** Possible vCPUs, including hotpluggable ones. */
  readonly maxCpus: number;
  /** APIC id of each possible vCPU (length maxCpus) when the topology does not map vCPU i to APIC id i. */
  readonly apicIds?: readonly number[];
  /** Whether the 16550 UART at 0x3F8 (IRQ 4) exists. */
  readonly serial: boolean;
  readonly pciSegments: readonly PciSegmentConfig[];
  /** Where the RSDP goes; the other tables follow it. Default 0xA0000 (the EBDA). */
  readonly rsdpAddress?: number;
}

/** The configuration after validation, with defaults filled in. */
export interface ResolvedAcpiConfig {
  readonly bootCpus: number;
  readonly apicIds: readonly number[];
  readonly serial: boolean;
  /** Sorted by id. */
  readonly pciSegments: readonly ResolvedPciSegment[];
  readonly rsdpAddress: number;
}

export interface ResolvedPciSegment extends PciSegmentConfig {
  /** Buses decoded through the ECAM window (ecam.size / 1 MiB). */
  readonly busCount: number;
}

export const DEFAULT_RSDP_ADDRESS = RSDP_POINTER;
/** The tables must end below the SMBIOS area. */
export const ACPI_TABLES_END = SMBIOS_START;
const MAX_BUSES = 256;
const MAX_SEGMENT_ID = 0xff;
const FOUR_GIB = 2 ** 32;
const INVALID_APIC_ID = 0xffff_ffff;
const RSDP_ALIGNMENT = 16;

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

function checkWindow(window: AddressWindow, limit: number, field: string): void {
  const { base, size } = window;
  if (!Number.isSafeInteger(base) || base < 0 || !isCount(size) || base + size > limit) {
    throw new AcpiError(
      'INVALID_PCI_SEGMENT',
      `${field} (base ${base}, size ${size}) must be a non-empty range ending at or below 0x${limit.toString(16)}`,
    );
  }
}

function resolveCpus(config: AcpiConfig, rsdpAddress: number): { bootCpus: number; apicIds: readonly number[] } {
  const { bootCpus, maxCpus } = config;
  if (!isCount(maxCpus) || !isCount(bootCpus) || bootCpus > maxCpus) {
    throw new AcpiError(
      'INVALID_CPU_CONFIG',
      `bootCpus (${bootCpus}) and maxCpus (${maxCpus}) must be integers with 1 <= bootCpus <= maxCpus`,
    );
  }
  // Reject vCPU counts whose x2APIC entries alone cannot fit before building anything that large.
  if (maxCpus * MADT_ENTRY.localX2Apic.length > ACPI_TABLES_END - rsdpAddress) {
    throw new AcpiError(
      'TABLES_TOO_LARGE',
      `the MADT for ${maxCpus} vCPUs does not fit below 0x${ACPI_TABLES_END.toString(16)}; lower maxCpus`,
    );
  }
  const apicIds = config.apicIds ?? Array.from({ length: maxCpus }, (_, index) => index);
  if (apicIds.length !== maxCpus) {
    throw new AcpiError(
      'INVALID_CPU_CONFIG',
      `apicIds has ${apicIds.length} entries but maxCpus is ${maxCpus}; give one APIC id per possible vCPU`,
    );
  }
  const seen = new Set<number>();
  for (const id of apicIds) {
    if (!Number.isSafeInteger(id) || id < 0 || id >= INVALID_APIC_ID || seen.has(id)) {
      throw new AcpiError(
        'INVALID_CPU_CONFIG',
        `APIC id ${id} is invalid or repeated; APIC ids must be distinct integers in 0..0xFFFFFFFE`,
      );
    }
    seen.add(id);
  }
  return { bootCpus, apicIds };
}

function resolvePciSegments(segments: readonly PciSegmentConfig[]): ResolvedPciSegment[] {
  const resolved = segments.map((segment) => {
    const { id, ecam } = segment;
    if (!Number.isSafeInteger(id) || id < 0 || id > MAX_SEGMENT_ID) {
      throw new AcpiError('INVALID_PCI_SEGMENT', `PCI segment id ${id} must be an integer in 0..${MAX_SEGMENT_ID}`);
    }
    const field = `pciSegments[id ${id}]`;
    checkWindow(ecam, FOUR_GIB, `${field}.ecam`);
    if (ecam.base % ECAM_BYTES_PER_BUS !== 0 || ecam.size % ECAM_BYTES_PER_BUS !== 0 || ecam.size > MAX_BUSES * ECAM_BYTES_PER_BUS) {
      throw new AcpiError('INVALID_PCI_SEGMENT', `${field}.ecam must be 1 MiB aligned and 1 MiB per bus, at most ${MAX_BUSES} buses`);
    }
    checkWindow(segment.mmio32, FOUR_GIB, `${field}.mmio32`);
    checkWindow(segment.mmio64, Number.MAX_SAFE_INTEGER, `${field}.mmio64`);
    return { ...segment, busCount: ecam.size / ECAM_BYTES_PER_BUS };
  });
  resolved.sort((a, b) => a.id - b.id);
  if (resolved[0]?.id !== 0) {
    throw new AcpiError('INVALID_PCI_SEGMENT', 'pciSegments must include segment 0 (it owns the 0xCF8 PCI config ports)');
  }
  resolved.forEach((segment, i) => {
    if (i > 0 && resolved[i - 1]!.id === segment.id) {
      throw new AcpiError('INVALID_PCI_SEGMENT', `PCI segment ${segment.id} is listed twice`);
    }
  });
  return resolved;
}

/** Validates `config` and fills in defaults. */
export function resolveAcpiConfig(config: AcpiConfig): ResolvedAcpiConfig {
  const rsdpAddress = config.rsdpAddress ?? DEFAULT_RSDP_ADDRESS;
  if (!Number.isSafeInteger(rsdpAddress) || rsdpAddress < 0 || rsdpAddress % RSDP_ALIGNMENT !== 0 || rsdpAddress >= ACPI_TABLES_END) {
    throw new AcpiError(
      'INVALID_RSDP_ADDRESS',
      `rsdpAddress ${rsdpAddress} must be a ${RSDP_ALIGNMENT}-byte aligned address below 0x${ACPI_TABLES_END.toString(16)}`,
    );
  }
  return {
    ...resolveCpus(config, rsdpAddress),
    serial: config.serial,
    pciSegments: resolvePciSegments(config.pciSegments),
    rsdpAddress,
  };
}
