/**
 * The ACPI PM device's state in shared memory: the offset between the host-clock tick count and the PM timer value
 * the guest sees (0 at power-on, so the timer counts from VMM start; set on restore so the timer continues from
 * its saved value). Also its snapshot format. Pure: no node:* imports.
 */
import { checkStateBuffer } from '../device-contracts.ts';
import { SNAPSHOT_VERSION, SnapshotReader } from '../snapshot.ts';

/** Byte offsets in the shared state buffer. */
export const ACPI_PM_STATE = {
  /** Float64: PM timer ticks added to the ticks derived from the host clock. */
  TIMER_OFFSET: 0,
} as const;

export const ACPI_PM_STATE_BYTES = 8;

/** Index of TIMER_OFFSET in a Float64Array over the state. */
export const TIMER_OFFSET_INDEX = ACPI_PM_STATE.TIMER_OFFSET / Float64Array.BYTES_PER_ELEMENT;

export interface AcpiPmSnapshot {
  readonly version: 1;
  /** The 32-bit PM timer value when the snapshot was taken. */
  readonly timerCounter: number;
}

export function acpiPmStateView(state: SharedArrayBuffer): Float64Array {
  return new Float64Array(checkStateBuffer(state, ACPI_PM_STATE_BYTES, 'ACPI PM'), 0, 1);
}

export function powerOnAcpiPm(state: Float64Array): void {
  state[TIMER_OFFSET_INDEX] = 0;
}

export function saveAcpiPm(timerCounter: number): AcpiPmSnapshot {
  return { version: SNAPSHOT_VERSION, timerCounter };
}

/** Returns the timer value to continue from. */
export function readAcpiPmSnapshot(data: unknown): number {
  return new SnapshotReader(data, 'ACPI PM').integer('timerCounter', 0xffff_ffff);
}
