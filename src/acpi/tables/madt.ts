/**
 * MADT ("APIC", revision 5; ACPI 6.5 §5.2.12): the local APIC address, one Processor Local x2APIC entry per
 * possible vCPU (enabled for boot vCPUs, online-capable for hotpluggable ones), the I/O APIC, the ISA IRQ 0 -> GSI 2
 * override the in-kernel irqchip uses for the timer, and LINT1 as NMI on every processor. Pure.
 */
import { APIC_START, IOAPIC_START } from '../../arch/x86_64/layout.ts';
import { finishSdt, startSdt } from './sdt.ts';

export const MADT_REVISION = 5;

/** Field offsets of the MADT body; interrupt controller structures start at `entries`. */
export const MADT = { localApicAddress: 36, flags: 40, entries: 44 } as const;

export const IO_APIC_ID = 0;

/** Interrupt controller structure types and their lengths. */
export const MADT_ENTRY = {
  ioApic: { type: 1, length: 12 },
  interruptSourceOverride: { type: 2, length: 10 },
  localX2Apic: { type: 9, length: 16 },
  localX2ApicNmi: { type: 10, length: 12 },
} as const;

/** Processor Local x2APIC flags: bit 0 Enabled; bit 1 Online Capable (only meaningful when not enabled). */
export const X2APIC_FLAGS = { enabled: 1 << 0, onlineCapable: 1 << 1 } as const;

/** MPS INTI flags: polarity bits 1-0 (1 = active high), trigger mode bits 3-2 (1 = edge). */
const MPS_INTI_ACTIVE_HIGH_EDGE = (1 << 2) | 1;
/** MPS INTI flags 0: polarity and trigger conform to the bus (used for the NMI entry, as firmware does). */
const MPS_INTI_CONFORMING = 0;
/** ACPI processor UID meaning "all processors". */
const ALL_PROCESSORS_UID = 0xffff_ffff;
const NMI_LINT = 1;
/** ISA IRQ 0 (the PIT timer) is wired to GSI 2 of the I/O APIC. */
const TIMER_ISA_IRQ = 0;
const TIMER_GSI = 2;

export interface MadtCpus {
  /** vCPUs running at boot (indices 0..bootCpus-1). */
  readonly bootCpus: number;
  /** APIC id of every possible vCPU, indexed by vCPU index (= ACPI processor UID). */
  readonly apicIds: readonly number[];
}

/** Builds the MADT. The caller has validated the CPU configuration. */
export function buildMadt(cpus: MadtCpus): Uint8Array {
  const writer = startSdt('APIC', MADT_REVISION).u32(APIC_START).u32(0);
  cpus.apicIds.forEach((apicId, index) => {
    const flags = index < cpus.bootCpus ? X2APIC_FLAGS.enabled : X2APIC_FLAGS.onlineCapable;
    writer.u8(MADT_ENTRY.localX2Apic.type).u8(MADT_ENTRY.localX2Apic.length).u16(0).u32(apicId).u32(flags).u32(index);
  });
  writer.u8(MADT_ENTRY.ioApic.type).u8(MADT_ENTRY.ioApic.length).u8(IO_APIC_ID).u8(0).u32(IOAPIC_START).u32(0);
  writer
    .u8(MADT_ENTRY.interruptSourceOverride.type)
    .u8(MADT_ENTRY.interruptSourceOverride.length)
    .u8(0)
    .u8(TIMER_ISA_IRQ)
    .u32(TIMER_GSI)
    .u16(MPS_INTI_ACTIVE_HIGH_EDGE);
  writer
    .u8(MADT_ENTRY.localX2ApicNmi.type)
    .u8(MADT_ENTRY.localX2ApicNmi.length)
    .u16(MPS_INTI_CONFORMING)
    .u32(ALL_PROCESSORS_UID)
    .u8(NMI_LINT)
    .zeros(3);
  return finishSdt(writer);
}
