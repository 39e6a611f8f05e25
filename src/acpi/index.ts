/**
 * Builds Nimbus's ACPI tables and places them in guest memory the way Cloud Hypervisor does: the RSDP at the
 * configured address (default 0xA0000, the EBDA), then DSDT, FACP, APIC (MADT), MCFG and XSDT, each 8-byte aligned,
 * all below 0xF0000. `createAcpiTables` returns the placed tables as bytes; `buildAcpiTables` also writes them.
 * Pure: no node:* imports.
 */
import type { GuestMemory } from '../memory/guest-memory.ts';
import { AcpiError } from './acpi-error.ts';
import { ACPI_TABLES_END, resolveAcpiConfig, type AcpiConfig } from './config.ts';
import { buildDsdt } from './dsdt.ts';
import { buildFadt } from './tables/fadt.ts';
import { buildMadt } from './tables/madt.ts';
import { buildMcfg } from './tables/mcfg.ts';
import { buildRsdp, RSDP, RSDP_SIGNATURE } from './tables/rsdp.ts';
import { buildXsdt } from './tables/xsdt.ts';

export { AcpiError, type AcpiErrorCode } from './acpi-error.ts';
export type { AcpiConfig, AddressWindow, PciSegmentConfig } from './config.ts';

/** Alignment of every table after the RSDP. */
const TABLE_ALIGNMENT = 8;

/** One table at its guest-physical address. */
export interface PlacedAcpiTable {
  /** The table's signature: "RSD PTR " for the RSDP, 4 characters for the others. */
  readonly signature: string;
  readonly address: number;
  readonly bytes: Uint8Array;
}

export interface AcpiTableSet {
  readonly rsdpAddress: number;
  /** In placement order: RSDP, DSDT, FACP, APIC, MCFG, XSDT. */
  readonly tables: readonly PlacedAcpiTable[];
}

/** Where a table went (what buildAcpiTables reports). */
export interface AcpiTableLocation {
  readonly signature: string;
  readonly address: number;
  readonly length: number;
}

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

/** Builds and lays out every table without touching guest memory. */
export function createAcpiTables(config: AcpiConfig): AcpiTableSet {
  const resolved = resolveAcpiConfig(config);
  const placed: PlacedAcpiTable[] = [];
  let next = alignUp(resolved.rsdpAddress + RSDP.size, TABLE_ALIGNMENT);
  const place = (signature: string, bytes: Uint8Array): number => {
    const address = next;
    if (address + bytes.length > ACPI_TABLES_END) {
      throw new AcpiError(
        'TABLES_TOO_LARGE',
        `ACPI tables from 0x${resolved.rsdpAddress.toString(16)} need more than the space below 0x${ACPI_TABLES_END.toString(16)}; ` +
          'lower maxCpus or the number of PCI segments, or move rsdpAddress down',
      );
    }
    placed.push({ signature, address, bytes });
    next = alignUp(address + bytes.length, TABLE_ALIGNMENT);
    return address;
  };
  const dsdtAddress = place('DSDT', buildDsdt(resolved));
  const xsdtEntries = [
    place('FACP', buildFadt(dsdtAddress)),
    place('APIC', buildMadt({ bootCpus: resolved.bootCpus, apicIds: resolved.apicIds })),
    place(
      'MCFG',
      buildMcfg(resolved.pciSegments.map((segment) => ({ segment: segment.id, ecamBase: segment.ecam.base, busCount: segment.busCount }))),
    ),
  ];
  const xsdtAddress = place('XSDT', buildXsdt(xsdtEntries));
  const rsdp = { signature: RSDP_SIGNATURE, address: resolved.rsdpAddress, bytes: buildRsdp(xsdtAddress) };
  return { rsdpAddress: resolved.rsdpAddress, tables: [rsdp, ...placed] };
}

/**
 * Builds the tables and writes them into guest memory. Fails with AcpiError if the configuration is invalid, the
 * tables do not fit below 0xF0000, or that range is not guest RAM.
 */
export function buildAcpiTables(config: AcpiConfig, memory: GuestMemory): { rsdpAddress: number; tables: AcpiTableLocation[] } {
  const set = createAcpiTables(config);
  const last = set.tables[set.tables.length - 1]!;
  const end = last.address + last.bytes.length;
  if (!memory.isValid(set.rsdpAddress, end - set.rsdpAddress)) {
    throw new AcpiError(
      'OUTSIDE_GUEST_MEMORY',
      `the ACPI tables need guest RAM at 0x${set.rsdpAddress.toString(16)}-0x${(end - 1).toString(16)}, which is not mapped`,
    );
  }
  memory.fill(set.rsdpAddress, end - set.rsdpAddress, 0);
  for (const table of set.tables) memory.write(table.address, table.bytes);
  return {
    rsdpAddress: set.rsdpAddress,
    tables: set.tables.map((table) => ({ signature: table.signature, address: table.address, length: table.bytes.length })),
  };
}
