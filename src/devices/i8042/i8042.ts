/**
 * The i8042 keyboard controller, reduced (as in Cloud Hypervisor) to what guests use to reset the machine: writing
 * command 0xFE ("pulse the reset line") to the command port 0x64 requests a VM reset. It decodes ports 0x61-0x64.
 * Reads: port 0x61 (system control port B) answers 0x20, the refresh/PIT-output bit kvmtool and Cloud Hypervisor
 * report so that Linux's pit_calibrate_tsc() does not wait forever; the status port 0x64 answers 0 (no data, input
 * buffer empty); other ports 0. Other writes are ignored. Stateless, so instances need no shared state or lock.
 * Pure: no node:* imports.
 */
import type { BusDevice } from '../../bus/bus.ts';
import type { Logger } from '../../util/logger.ts';
import { answerByte, writtenByte, type PlatformControl } from '../device-contracts.ts';

/** Port offsets from the device's base 0x61. */
export const I8042_PORT = {
  /** 0x61: system control port B. */
  CONTROL_PORT_B: 0,
  /** 0x64: command (write) and status (read). */
  COMMAND_STATUS: 3,
} as const;

export const I8042_PORT_COUNT = 4;

/** The "pulse output line 0" command that resets a PC. */
export const I8042_RESET_COMMAND = 0xfe;

const CONTROL_PORT_B_VALUE = 0x20;
const STATUS_VALUE = 0x00;

export class I8042 implements BusDevice {
  private readonly platform: PlatformControl;
  private readonly logger: Logger;

  constructor(platform: PlatformControl, logger: Logger) {
    this.platform = platform;
    this.logger = logger;
  }

  read(offset: number, data: Uint8Array): void {
    if (offset === I8042_PORT.CONTROL_PORT_B) answerByte(data, CONTROL_PORT_B_VALUE);
    else answerByte(data, STATUS_VALUE);
  }

  write(offset: number, data: Uint8Array): void {
    if (offset === I8042_PORT.COMMAND_STATUS && writtenByte(data) === I8042_RESET_COMMAND) {
      this.logger.info('i8042 reset signalled');
      this.platform.requestReset();
    }
  }
}
