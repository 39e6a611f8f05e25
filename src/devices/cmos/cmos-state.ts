/**
 * The CMOS/RTC's mutable state in shared memory (the index register and the 128 bytes of CMOS RAM, shared by every
 * thread's Cmos instance under the device lock), its power-on contents and its snapshot format.
 * Pure: no node:* imports.
 */
import { checkStateBuffer } from '../device-contracts.ts';
import { DeviceError } from '../device-error.ts';
import { SNAPSHOT_VERSION, SnapshotReader } from '../snapshot.ts';
import {
  CMOS_RAM_BYTES,
  CMOS_REGISTER,
  EXTENDED_MEMORY_START,
  MEMORY_SIZE_UNIT,
  STATUS_A,
  STATUS_B,
} from './cmos-registers.ts';

/** Byte offsets in the shared state buffer. */
export const CMOS_STATE = {
  /** The last byte written to the index port (NMI bit included). */
  INDEX: 0,
  RAM: 1,
} as const;

export const CMOS_STATE_BYTES = CMOS_STATE.RAM + CMOS_RAM_BYTES;

/** Guest RAM sizes the firmware reads from CMOS. */
export interface CmosMemorySizes {
  /** Bytes of RAM below 4 GiB (up to the 32-bit device gap). */
  readonly memoryBelow4G: number;
  /** Bytes of RAM above 4 GiB. */
  readonly memoryAbove4G: number;
}

/** Largest values the memory-size bytes hold (Cloud Hypervisor clamps to these too). */
const EXTENDED_MEMORY_MAX_UNITS = 0xffff;
const HIGH_MEMORY_MAX_UNITS = 0xff_ffff;

export interface CmosSnapshot {
  readonly version: 1;
  readonly index: number;
  /** The 128 bytes of CMOS RAM (time registers hold no state: they read the host clock). */
  readonly ram: readonly number[];
}

export function cmosStateView(state: SharedArrayBuffer): Uint8Array {
  return new Uint8Array(checkStateBuffer(state, CMOS_STATE_BYTES, 'CMOS'), 0, CMOS_STATE_BYTES);
}

/** Power-on contents: status registers A and B, the memory-size bytes, everything else 0. */
export function powerOnCmos(state: Uint8Array, sizes: CmosMemorySizes): void {
  for (const name of ['memoryBelow4G', 'memoryAbove4G'] as const) {
    const value = sizes[name];
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new DeviceError('BAD_CONFIG', `CMOS ${name} is ${value}, expected a byte count (a non-negative integer)`);
    }
  }
  state.fill(0);
  const ram = state.subarray(CMOS_STATE.RAM);
  ram[CMOS_REGISTER.STATUS_A] = STATUS_A.POWER_ON;
  ram[CMOS_REGISTER.STATUS_B] = STATUS_B.HOURS_24;
  const extended = Math.min(
    EXTENDED_MEMORY_MAX_UNITS,
    Math.floor(Math.max(0, sizes.memoryBelow4G - EXTENDED_MEMORY_START) / MEMORY_SIZE_UNIT),
  );
  ram[CMOS_REGISTER.EXTENDED_MEMORY_LOW] = extended & 0xff;
  ram[CMOS_REGISTER.EXTENDED_MEMORY_HIGH] = extended >> 8;
  const high = Math.min(HIGH_MEMORY_MAX_UNITS, Math.floor(sizes.memoryAbove4G / MEMORY_SIZE_UNIT));
  ram[CMOS_REGISTER.HIGH_MEMORY_LOW] = high & 0xff;
  ram[CMOS_REGISTER.HIGH_MEMORY_MIDDLE] = (high >> 8) & 0xff;
  ram[CMOS_REGISTER.HIGH_MEMORY_HIGH] = high >> 16;
}

export function saveCmos(state: Uint8Array): CmosSnapshot {
  return {
    version: SNAPSHOT_VERSION,
    index: state[CMOS_STATE.INDEX]!,
    ram: [...state.subarray(CMOS_STATE.RAM, CMOS_STATE.RAM + CMOS_RAM_BYTES)],
  };
}

export function restoreCmos(state: Uint8Array, data: unknown): void {
  const snapshot = new SnapshotReader(data, 'CMOS');
  const index = snapshot.integer('index', 0xff);
  const ram = snapshot.bytes('ram', CMOS_RAM_BYTES, true);
  state[CMOS_STATE.INDEX] = index;
  state.set(ram, CMOS_STATE.RAM);
  // Keep the invariants the device maintains on writes: no update in progress, 24-hour mode.
  state[CMOS_STATE.RAM + CMOS_REGISTER.STATUS_A]! &= ~STATUS_A.UPDATE_IN_PROGRESS;
  state[CMOS_STATE.RAM + CMOS_REGISTER.STATUS_B]! |= STATUS_B.HOURS_24;
}
