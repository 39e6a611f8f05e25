/**
 * The DSDT: the AML namespace of the platform. One small function per object so later features (GED, CPU, memory
 * and PCI hotplug controllers) add their own pieces to `dsdtTerms`:
 *   \_S5_          soft-off package {5, 5, 0, 0}: the guest writes (5 << 2) | SLP_EN (1 << 5) = 0x34 to the sleep
 *                  control register to power off
 *   \_SB_.PCI0...  one PCI host bridge per segment (PCI0 for segment 0, PCxx for the others)
 *   \_SB_.MBRD     motherboard resources reserving the ECAM windows, so Linux trusts the MCFG
 *   \_SB_.COM1     the 16550 UART, only when the serial port exists
 *   \_SB_.PWRB     the power button
 *   \_SB_.GEC_     the Generic Event Controller: the GED's 1-byte notification register (GDAT, read-to-clear) and
 *                  ESCN, which reads it once and dispatches each bit (0x8: Notify(\_SB_.PWRB, 0x80))
 *   \_SB_.GED_     the Generic Event Device (ACPI0013): its interrupt and _EVT, which the OS runs on that
 *                  interrupt and which calls \_SB_.GEC_.ESCN
 * The GED pieces follow Cloud Hypervisor's AcpiGedDevice::to_aml_bytes (devices/src/acpi.rs), except that the
 * register block is described as Memory32Fixed (a fixed register the device decodes) where upstream declares a
 * QWordMemory producer window. Pure: no node:* imports.
 */
import { COM1_IRQ, COM1_PORT_COUNT, COM1_PORT_START, PCI_CONFIG_IO_PORT, PCI_CONFIG_IO_PORT_COUNT, GED_IRQ, GED_MMIO_SIZE, GED_MMIO_START } from '../arch/x86_64/layout.ts';
import * as aml from './aml.ts';
import {
  dwordMemory,
  extendedInterrupt,
  ioPort,
  irqNoFlags,
  memory32Fixed,
  qwordMemory,
  resourceTemplate,
  wordBusNumber,
  wordIo,
} from './aml-resources.ts';
import type { ResolvedAcpiConfig, ResolvedPciSegment } from './config.ts';
import { finishSdt, startSdt } from './tables/sdt.ts';

export const DSDT_REVISION = 6;
/** The system bus scope every device lives in. */
export const SYSTEM_BUS_SCOPE = '\\_SB_';

/** SLP_TYP value of S5 (soft off) that the shutdown device recognises. */
export const S5_SLEEP_TYPE = 5;


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
          ioPort(PCI_CONFIG_IO_PORT, PCI_CONFIG_IO_PORT, 1, PCI_CONFIG_IO_PORT_COUNT),
          wordIo(0, PCI_CONFIG_IO_PORT - 1),
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

/**
 * Bits of the GED notification register that \_SB_.GEC_.ESCN handles, as Cloud Hypervisor assigns them
 * (AcpiNotificationFlags). Upstream's bits 0x1, 0x2 and 0x4 (CPU, memory and PCI hotplug) join this list with the
 * hotplug controllers whose scan methods they call.
 */
export const GED_NOTIFICATION = {
  /** Notify(\_SB_.PWRB, 0x80): the power button was pressed. */
  POWER_BUTTON: 0x8,
} as const;

/** Notify value of a control-method power button press (the ACPI power button device's 0x80, "button pressed"). */
const POWER_BUTTON_NOTIFY_VALUE = 0x80;

const POWER_BUTTON_PATH = `${SYSTEM_BUS_SCOPE}.PWRB`;
const EVENT_SCAN_PATH = `${SYSTEM_BUS_SCOPE}.GEC_.ESCN`;

/** And(Local0, bit, Local1); If (LEqual(Local1, bit)) { terms }: runs `terms` when ESCN's snapshot has `bit` set. */
function ifNotified(bit: number, terms: readonly aml.Aml[]): aml.Aml {
  return aml.concat([
    aml.and(aml.local(0), aml.integer(bit), aml.local(1)),
    aml.ifThen(aml.lEqual(aml.local(1), aml.integer(bit)), terms),
  ]);
}

/**
 * Device(GEC_): the GED's register block at GED_MMIO_START. Reading GDAT returns the pending notification bits
 * and clears them, so ESCN (serialized) reads it exactly once into Local0 and tests each bit there.
 */
export function genericEventControllerDevice(): aml.Aml {
  return aml.device('GEC_', [
    aml.name('_HID', aml.eisaId('PNP0A06')),
    aml.name('_UID', aml.string('Generic Event Controller')),
    aml.name('_CRS', resourceTemplate([memory32Fixed(true, GED_MMIO_START, GED_MMIO_SIZE)])),
    aml.operationRegion('GDST', 'SystemMemory', aml.integer(GED_MMIO_START), aml.integer(GED_MMIO_SIZE)),
    aml.field('GDST', { access: 'ByteAcc', lock: false, update: 'WriteAsZeros' }, [{ kind: 'named', name: 'GDAT', bits: 8 }]),
    aml.method('ESCN', 0, true, [
      aml.store(aml.nameString('GDAT'), aml.local(0)),
      ifNotified(GED_NOTIFICATION.POWER_BUTTON, [
        aml.notify(aml.nameString(POWER_BUTTON_PATH), aml.integer(POWER_BUTTON_NOTIFY_VALUE)),
      ]),
    ]),
  ]);
}

/**
 * Device(GED_): the Generic Event Device (ACPI0013) on GED_IRQ, edge-triggered and active high; the OS runs
 * _EVT(interrupt) when it fires, which scans the notification register.
 */
export function genericEventDevice(): aml.Aml {
  const interrupt = extendedInterrupt(
    { consumer: true, edgeTriggered: true, activeLow: false, shared: false, wakeCapable: false },
    [GED_IRQ],
  );
  return aml.device('GED_', [
    aml.name('_HID', aml.string('ACPI0013')),
    aml.name('_UID', aml.zero()),
    aml.name('_CRS', resourceTemplate([interrupt])),
    aml.method('_EVT', 1, true, [aml.methodCall(EVENT_SCAN_PATH, [])]),
  ]);
}

/** The DSDT's AML: root-scope objects, then the \_SB_ scope with its devices. */
export function dsdtTerms(config: ResolvedAcpiConfig): aml.Aml[] {
  const devices = [
    ...config.pciSegments.map(pciHostBridgeDevice),
    motherboardResourcesDevice(config.pciSegments),
    ...(config.serial ? [serialPortDevice()] : []),
    powerButtonDevice(),
    genericEventControllerDevice(),
    genericEventDevice(),
  ];
  return [sleepStateS5(), aml.scope(SYSTEM_BUS_SCOPE, devices)];
}

/** The complete DSDT table. */
export function buildDsdt(config: ResolvedAcpiConfig): Uint8Array {
  return finishSdt(startSdt('DSDT', DSDT_REVISION).bytes(aml.concat(dsdtTerms(config))));
}
