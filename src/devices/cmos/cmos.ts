/**
 * The CMOS RTC at ports 0x70-0x71, as Cloud Hypervisor provides it: an index port and a data port over 128 bytes
 * of CMOS RAM. The time and date registers read the host wall clock in UTC (BCD unless status register B selects
 * binary; always 24-hour); writes to them are ignored, so the guest cannot move the clock. Status A never shows an
 * update in progress, C has no interrupt flags (the RTC raises no interrupts, like Cloud Hypervisor's), D reports
 * valid RAM and time. The memory-size bytes are RAM initialised at power-on. Writing 0 to the shutdown-status byte
 * with NMI disabled (index 0x8F, Linux's CMOS reboot) requests a VM reset, as Cloud Hypervisor does.
 * The state lives in shared memory; wrap instances in LockedDevice. Pure: no node:* imports.
 */
import type { Logger } from '../../util/logger.ts';
import {
  answerByte,
  writtenByte,
  type PlatformControl,
  type StatefulDevice,
  type WallClock,
} from '../device-contracts.ts';
import {
  CMOS_INDEX_MASK,
  CMOS_PORT,
  CMOS_REGISTER,
  CMOS_RESET_INDEX,
  STATUS_A,
  STATUS_B,
  STATUS_D,
} from './cmos-registers.ts';
import {
  cmosStateView,
  powerOnCmos,
  restoreCmos,
  saveCmos,
  CMOS_STATE,
  CMOS_STATE_BYTES,
  type CmosMemorySizes,
  type CmosSnapshot,
} from './cmos-state.ts';

/** The clock-backed registers and how each is derived from a UTC date. */
const CLOCK_REGISTERS: ReadonlyMap<number, (date: Date) => number> = new Map([
  [CMOS_REGISTER.SECONDS, (d: Date) => d.getUTCSeconds()],
  [CMOS_REGISTER.MINUTES, (d: Date) => d.getUTCMinutes()],
  [CMOS_REGISTER.HOURS, (d: Date) => d.getUTCHours()],
  [CMOS_REGISTER.DAY_OF_WEEK, (d: Date) => d.getUTCDay() + 1],
  [CMOS_REGISTER.DAY_OF_MONTH, (d: Date) => d.getUTCDate()],
  [CMOS_REGISTER.MONTH, (d: Date) => d.getUTCMonth() + 1],
  [CMOS_REGISTER.YEAR, (d: Date) => d.getUTCFullYear() % 100],
  [CMOS_REGISTER.CENTURY, (d: Date) => Math.floor(d.getUTCFullYear() / 100) % 100],
]);

function toBcd(value: number): number {
  return (Math.floor(value / 10) << 4) | value % 10;
}

export class Cmos implements StatefulDevice {
  static readonly STATE_BYTES = CMOS_STATE_BYTES;

  private readonly state: Uint8Array;
  private readonly ram: Uint8Array;
  private readonly wallClock: WallClock;
  private readonly platform: PlatformControl;
  private readonly logger: Logger;

  /** Writes the power-on contents (status registers, memory sizes) into a fresh state buffer. */
  static powerOn(state: SharedArrayBuffer, sizes: CmosMemorySizes): void {
    powerOnCmos(cmosStateView(state), sizes);
  }

  constructor(state: SharedArrayBuffer, wallClock: WallClock, platform: PlatformControl, logger: Logger) {
    this.state = cmosStateView(state);
    this.ram = this.state.subarray(CMOS_STATE.RAM);
    this.wallClock = wallClock;
    this.platform = platform;
    this.logger = logger;
  }

  read(offset: number, data: Uint8Array): void {
    if (offset === CMOS_PORT.INDEX) answerByte(data, this.state[CMOS_STATE.INDEX]!);
    else if (offset === CMOS_PORT.DATA) answerByte(data, this.readRegister(this.index()));
    else answerByte(data, 0);
  }

  write(offset: number, data: Uint8Array): void {
    const value = writtenByte(data);
    if (offset === CMOS_PORT.INDEX) {
      this.state[CMOS_STATE.INDEX] = value;
    } else if (offset === CMOS_PORT.DATA) {
      if (this.state[CMOS_STATE.INDEX] === CMOS_RESET_INDEX && value === 0) {
        this.logger.info('CMOS reset');
        this.platform.requestReset();
      } else {
        this.writeRegister(this.index(), value);
      }
    }
  }

  save(): CmosSnapshot {
    return saveCmos(this.state);
  }

  restore(data: unknown): void {
    restoreCmos(this.state, data);
  }

  private index(): number {
    return this.state[CMOS_STATE.INDEX]! & CMOS_INDEX_MASK;
  }

  private readRegister(index: number): number {
    const fromClock = CLOCK_REGISTERS.get(index);
    if (fromClock) {
      const value = fromClock(new Date(this.wallClock()));
      return this.ram[CMOS_REGISTER.STATUS_B]! & STATUS_B.BINARY ? value : toBcd(value);
    }
    switch (index) {
      case CMOS_REGISTER.STATUS_C:
        return 0;
      case CMOS_REGISTER.STATUS_D:
        return STATUS_D.VALID;
      default:
        return this.ram[index]!;
    }
  }

  private writeRegister(index: number, value: number): void {
    if (CLOCK_REGISTERS.has(index)) return; // the RTC follows the host clock
    switch (index) {
      case CMOS_REGISTER.STATUS_A:
        this.ram[index] = value & ~STATUS_A.UPDATE_IN_PROGRESS;
        break;
      case CMOS_REGISTER.STATUS_B:
        this.ram[index] = value | STATUS_B.HOURS_24;
        break;
      case CMOS_REGISTER.STATUS_C:
      case CMOS_REGISTER.STATUS_D:
        break; // read-only
      default:
        this.ram[index] = value;
    }
  }
}
