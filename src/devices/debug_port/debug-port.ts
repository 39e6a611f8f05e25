/**
 * The 0x80 POST/debug port as Cloud Hypervisor defines it (docs/debug-port.md): every byte the guest writes is
 * logged at debug level with the time since the VMM started and the guest component its code range belongs to:
 * `[Debug I/O port: Kernel code 0x41] 1.234567 seconds`. Guests use it to timestamp boot steps. Reads return 0.
 * A wider write logs its low byte. Stateless: instances need no shared state or lock. Pure: no node:* imports.
 */
import type { BusDevice } from '../../bus/bus.ts';
import type { Logger } from '../../util/logger.ts';
import { answerByte, writtenByte, type MonotonicClock } from '../device-contracts.ts';

export const DEBUG_PORT_PORT_COUNT = 1;

/** Code ranges, each 0x20 codes wide from 0x00, and the component named in the log line; 0x80-0xFF are Custom. */
const COMPONENTS = ['Firmware', 'Bootloader', 'Kernel', 'Userspace'] as const;
const CODES_PER_COMPONENT = 0x20;

/** The guest component a debug code belongs to. */
export function debugPortComponent(code: number): string {
  return COMPONENTS[Math.floor(code / CODES_PER_COMPONENT)] ?? 'Custom';
}

/** The log line for `code` written `nanoseconds` after VMM start (seconds with 6 digits of microseconds). */
export function formatDebugPortEvent(code: number, nanoseconds: number): string {
  const microseconds = Math.floor(nanoseconds / 1000);
  const seconds = Math.floor(microseconds / 1_000_000);
  const fraction = String(microseconds - seconds * 1_000_000).padStart(6, '0');
  return `[Debug I/O port: ${debugPortComponent(code)} code 0x${code.toString(16)}] ${seconds}.${fraction} seconds`;
}

export class DebugPort implements BusDevice {
  private readonly logger: Logger;
  private readonly clock: MonotonicClock;

  constructor(logger: Logger, clock: MonotonicClock) {
    this.logger = logger;
    this.clock = clock;
  }

  read(_offset: number, data: Uint8Array): void {
    answerByte(data, 0);
  }

  write(_offset: number, data: Uint8Array): void {
    if (this.logger.enabled('debug')) this.logger.debug(formatDebugPortEvent(writtenByte(data), this.clock()));
  }
}
