/**
 * MCFG (PCI Firmware Specification 3.3 §4.1.2): one configuration space base address allocation per PCI segment,
 * giving the ECAM base and the bus range it decodes. Pure.
 */
import { finishSdt, startSdt } from './sdt.ts';

export const MCFG_REVISION = 1;
/** The 8 reserved bytes after the header, then 16-byte allocation entries. */
export const MCFG = { entries: 44, entrySize: 16 } as const;
/** Field offsets inside one allocation entry. */
export const MCFG_ENTRY = { baseAddress: 0, segment: 8, startBus: 10, endBus: 11, size: 16 } as const;

export interface McfgSegment {
  readonly segment: number;
  readonly ecamBase: number;
  /** Buses 0..busCount-1 are decoded (1 MiB of ECAM each). */
  readonly busCount: number;
}

export function buildMcfg(segments: readonly McfgSegment[]): Uint8Array {
  const writer = startSdt('MCFG', MCFG_REVISION).zeros(8);
  for (const segment of segments) writer.u64(segment.ecamBase).u16(segment.segment).u8(0).u8(segment.busCount - 1).u32(0);
  return finishSdt(writer);
}
