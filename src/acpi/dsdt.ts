/**
 * The DSDT: the AML namespace of the platform. One small function per object so later features (GED, CPU, memory
 * and PCI hotplug controllers) add their own pieces to `dsdtTerms`:
 *   \_S5_          soft-off package {5, 5, 0, 0}: the guest writes (5 << 2) | SLP_EN (1 << 5) = 0x34 to the sleep
 *                  control register to power off
 *   \_SB_.PCI0...  one PCI host bridge per segment (PCI0 for segment 0, PCxx for the others)
 *   \_SB_.MBRD     motherboard resources reserving the ECAM windows, so Linux trusts the MCFG
 *   \_SB_.COM1     the 16550 UART, only when the serial port exists
 *   \_SB_.PWRB     the power button
 * Pure: no node:* imports.
 */
import { COM1_IRQ, COM1_PORT_COUNT, COM1_PORT_START } from '../arch/x86_64/layout.ts';
import * as aml from './aml.ts';
import { dwordMemory, ioPort, irqNoFlags, memory32Fixed, qwordMemory, resourceTemplate, wordBusNumber, wordIo } from './aml-resources.ts';
import type { ResolvedAcpiConfig, ResolvedPciSegment } from './config.ts';
import { finishSdt, startSdt } from './tables/sdt.ts';

export const DSDT_REVISION = 6;
/** The system bus scope every device lives in. */
export const SYSTEM_BUS_SCOPE = '\\_SB_';

/** SLP_TYP value of S5 (soft off) that the shutdown device recognises. */
export const S5_SLEEP_TYPE = 5;


/** PCI configuration mechanism #1 ports (CONFIG_ADDRESS/CONFIG_DATA), decoded by segment 0. */
export const PCI_CONFIG_IO_BASE = 0xcf8;
export const PCI_CONFIG_IO_LENGTH = 8;
const IO_SPACE_END = 0xffff;

/** Name(_S5_, Package() { 5, 5, 0, 0 }): SLP_TYPa, SLP_TYPb and two reserved values. */
export function sleepStateS5(): aml.Aml {
  const sleepType = aml.integer(S5_SLEEP_TYPE);
  return aml.name('_S5_', aml.packageOf([sleepType, sleepType, aml.zero(), aml.zero()]));
}

/** Device(COM1): the 16550 UART at 0x3F8-0x3FF on IRQ 4. */
export function serialPortDevice(): aml.Aml {
  return aml.device('COM1', [
    aml.name('_HID', aml.eisaId('PNP0501')),
    aml.name('_UID', aml.zero()),
    aml.name('_CRS', resourceTemplate([ioPort(COM1_PORT_START, COM1_PORT_START, 1, COM1_PORT_COUNT), irqNoFlags([COM1_IRQ])])),
  ]);
}

/** The ACPI name of a segment's host bridge: PCI0 for segment 0, PCxx (hex id) for the others. */
export function pciHostBridgeName(segmentId: number): string {
  return segmentId === 0 ? 'PCI0' : `PC${segmentId.toString(16).toUpperCase().padStart(2, '0')}`;
}

/**
 * A PCI Express host bridge: its bus range, and the windows it forwards. Segment 0 also decodes the config ports
 * and forwards the rest of the I/O space (around them) to its devices.
 */
export function pciHostBridgeDevice(segment: ResolvedPciSegment): aml.Aml {
  const legacyIo =
    segment.id === 0
      ? [
          ioPort(PCI_CONFIG_IO_BASE, PCI_CONFIG_IO_BASE, 1, PCI_CONFIG_IO_LENGTH),
          wordIo(0, PCI_CONFIG_IO_BASE - 1),
          wordIo(0xd00, IO_SPACE_END),
        ]
      : [];
  const windowEnd = (window: { base: number; size: number }): number => window.base + window.size - 1;
  return aml.device(pciHostBridgeName(segment.id), [
    aml.name('_HID', aml.eisaId('PNP0A08')),
    aml.name('_CID', aml.eisaId('PNP0A03')),
    aml.name('_ADR', aml.zero()),
    aml.name('_SEG', aml.integer(segment.id)),
    aml.name('_UID', aml.integer(segment.id)),
    aml.name('_BBN', aml.zero()),
    aml.name(
      '_CRS',
      resourceTemplate([
        wordBusNumber(0, segment.busCount - 1),
        ...legacyIo,
        dwordMemory('NonCacheable', true, segment.mmio32.base, windowEnd(segment.mmio32)),
        qwordMemory('NonCacheable', true, segment.mmio64.base, windowEnd(segment.mmio64)),
      ]),
    ),
  ]);
}

/** Device(MBRD): motherboard resources (PNP0C02) reserving every segment's ECAM window. */
export function motherboardResourcesDevice(segments: readonly ResolvedPciSegment[]): aml.Aml {
  return aml.device('MBRD', [
    aml.name('_HID', aml.eisaId('PNP0C02')),
    aml.name('_UID', aml.zero()),
    aml.name('_CRS', resourceTemplate(segments.map((segment) => memory32Fixed(true, segment.ecam.base, segment.ecam.size)))),
  ]);
}

/** Device(PWRB): the ACPI power button (PNP0C0C); pressing it is Notify(\_SB_.PWRB, 0x80). */
export function powerButtonDevice(): aml.Aml {
  return aml.device('PWRB', [aml.name('_HID', aml.eisaId('PNP0C0C')), aml.name('_UID', aml.zero())]);
}

/** The DSDT's AML: root-scope objects, then the \_SB_ scope with its devices. */
export function dsdtTerms(config: ResolvedAcpiConfig): aml.Aml[] {
  const devices = [
    ...config.pciSegments.map(pciHostBridgeDevice),
    motherboardResourcesDevice(config.pciSegments),
    ...(config.serial ? [serialPortDevice()] : []),
    powerButtonDevice(),
  ];
  return [sleepStateS5(), aml.scope(SYSTEM_BUS_SCOPE, devices)];
}

/** The complete DSDT table. */
export function buildDsdt(config: ResolvedAcpiConfig): Uint8Array {
  return finishSdt(startSdt('DSDT', DSDT_REVISION).bytes(aml.concat(dsdtTerms(config))));
}
