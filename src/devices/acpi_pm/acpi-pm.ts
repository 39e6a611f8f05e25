/**
 * The ACPI power-management I/O device the FADT points at on Cloud Hypervisor's hardware-reduced ACPI platform,
 * at ports 0x600-0x60B:
 * - 0x600 (1 byte): sleep control, sleep status and reset register at once. Writing the FADT reset value 1 requests
 *   a VM reset; writing SLP_EN (bit 5) with SLP_TYP (bits 2-4) = 5, the DSDT's _S5_ value, requests power-off.
 *   Other sleep types are logged and ignored (the DSDT only offers _S5_); writes without SLP_EN are ignored. Reads
 *   return 0. A wider access uses the low byte.
 * - 0x608 (4 bytes): the ACPI PM timer, a free-running 32-bit counter at 3.579545 MHz (FADT TMR_VAL_EXT=1) derived
 *   from the host monotonic clock. A narrower or offset read returns the matching bytes of the little-endian value.
 * The other ports read 0 and ignore writes. Pure: no node:* imports.
 */
import type { Logger } from '../../util/logger.ts';
import {
  writtenByte,
  type MonotonicClock,
  type PlatformControl,
  type StatefulDevice,
} from '../device-contracts.ts';
import {
  acpiPmStateView,
  powerOnAcpiPm,
  readAcpiPmSnapshot,
  saveAcpiPm,
  ACPI_PM_STATE_BYTES,
  TIMER_OFFSET_INDEX,
  type AcpiPmSnapshot,
} from './acpi-pm-state.ts';

/** Port offsets from the base 0x600 (the FADT's sleep/reset registers and PM_TMR_BLK). */
export const ACPI_PM_PORT = {
  SLEEP_CONTROL: 0,
  PM_TIMER: 8,
} as const;

export const ACPI_PM_PORT_COUNT = 12;
export const PM_TIMER_BYTES = 4;

/** The FADT RESET_VALUE written to the reset register. */
export const ACPI_RESET_VALUE = 1;

export const SLEEP_CONTROL = {
  TYPE_SHIFT: 2,
  TYPE_MASK: 0x7,
  ENABLE: 0x20,
} as const;

/** SLP_TYP of the soft-off state (the DSDT's `_S5_` package is {5, 5, 0, 0}). */
export const SOFT_OFF_SLEEP_TYPE = 5;

export const PM_TIMER_HZ = 3_579_545;

const NANOSECONDS_PER_SECOND = 1_000_000_000;
const TIMER_MODULUS = 2 ** 32;

/** PM timer ticks elapsed after `nanoseconds`, computed without losing integer precision. */
function ticksAt(nanoseconds: number): number {
  const seconds = Math.floor(nanoseconds / NANOSECONDS_PER_SECOND);
  const remainder = nanoseconds - seconds * NANOSECONDS_PER_SECOND;
  return seconds * PM_TIMER_HZ + Math.floor((remainder * PM_TIMER_HZ) / NANOSECONDS_PER_SECOND);
}

function wrap32(value: number): number {
  return ((value % TIMER_MODULUS) + TIMER_MODULUS) % TIMER_MODULUS;
}

export class AcpiPowerManagement implements StatefulDevice {
  static readonly STATE_BYTES = ACPI_PM_STATE_BYTES;

  private readonly state: Float64Array;
  private readonly platform: PlatformControl;
  private readonly logger: Logger;
  private readonly clock: MonotonicClock;

  static powerOn(state: SharedArrayBuffer): void {
    powerOnAcpiPm(acpiPmStateView(state));
  }

  constructor(state: SharedArrayBuffer, platform: PlatformControl, logger: Logger, clock: MonotonicClock) {
    this.state = acpiPmStateView(state);
    this.platform = platform;
    this.logger = logger;
    this.clock = clock;
  }

  read(offset: number, data: Uint8Array): void {
    data.fill(0);
    const timerByte = offset - ACPI_PM_PORT.PM_TIMER;
    if (timerByte < 0 || timerByte >= PM_TIMER_BYTES) return; // sleep status and unused ports read 0
    const counter = this.timerCounter();
    for (let i = 0; i < data.length && timerByte + i < PM_TIMER_BYTES; i++) {
      data[i] = Math.floor(counter / 2 ** (8 * (timerByte + i))) & 0xff;
    }
  }

  write(offset: number, data: Uint8Array): void {
    if (offset !== ACPI_PM_PORT.SLEEP_CONTROL) return; // the PM timer is read-only
    const value = writtenByte(data);
    if (value === ACPI_RESET_VALUE) {
      this.logger.info('ACPI reboot signalled');
      this.platform.requestReset();
      return;
    }
    if ((value & SLEEP_CONTROL.ENABLE) === 0) return;
    const sleepType = (value >> SLEEP_CONTROL.TYPE_SHIFT) & SLEEP_CONTROL.TYPE_MASK;
    if (sleepType === SOFT_OFF_SLEEP_TYPE) {
      this.logger.info('ACPI shutdown signalled');
      this.platform.requestShutdown();
    } else {
      this.logger.warn(
        `ACPI sleep request with SLP_TYP ${sleepType} ignored: only soft off (SLP_TYP ${SOFT_OFF_SLEEP_TYPE}) is supported`,
      );
    }
  }

  save(): AcpiPmSnapshot {
    return saveAcpiPm(this.timerCounter());
  }

  /** The timer continues from the saved value. */
  restore(data: unknown): void {
    const timerCounter = readAcpiPmSnapshot(data);
    this.state[TIMER_OFFSET_INDEX] = timerCounter - ticksAt(this.clock());
  }

  private timerCounter(): number {
    return wrap32(ticksAt(this.clock()) + this.state[TIMER_OFFSET_INDEX]!);
  }
}
