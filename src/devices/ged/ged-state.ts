/**
 * The Generic Event Device's state in shared memory: the notification bits raised by the VMM and not yet read by
 * the guest. Also its snapshot format. Pure: no node:* imports.
 */
import { GED_NOTIFICATION } from '../../acpi/dsdt.ts';
import { checkStateBuffer } from '../device-contracts.ts';
import { SNAPSHOT_VERSION, SnapshotReader } from '../snapshot.ts';

/** Byte offsets in the shared state buffer. */
export const GED_STATE = {
  /** u8: pending notification bits (GED_NOTIFICATION), the value the guest's next register read returns. */
  PENDING: 0,
} as const;

export const GED_STATE_BYTES = 1;

/** Every notification bit the DSDT's scan method handles. */
export const GED_NOTIFICATION_MASK = Object.values(GED_NOTIFICATION).reduce<number>((mask, bit) => mask | bit, 0);

export interface GedSnapshot {
  readonly version: 1;
  readonly pending: number;
}

export function gedStateView(state: SharedArrayBuffer): Uint8Array {
  return new Uint8Array(checkStateBuffer(state, GED_STATE_BYTES, 'ACPI GED'), 0, GED_STATE_BYTES);
}

export function powerOnGed(state: Uint8Array): void {
  state[GED_STATE.PENDING] = 0;
}

export function saveGed(state: Uint8Array): GedSnapshot {
  return { version: SNAPSHOT_VERSION, pending: state[GED_STATE.PENDING]! };
}

/** Validates a snapshot and writes it into `state`. */
export function restoreGed(state: Uint8Array, data: unknown): void {
  state[GED_STATE.PENDING] = new SnapshotReader(data, 'ACPI GED').bits('pending', GED_NOTIFICATION_MASK);
}
