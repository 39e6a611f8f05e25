/**
 * The firmware debug port at 0x402 (Cloud Hypervisor's, as QEMU's isa-debugcon for OVMF): each byte written goes
 * to the output sink (stdout in Cloud Hypervisor); a read returns 0xE9, which firmware checks to detect the port.
 * A wider write emits its low byte; a wider read returns 0xE9 in the low byte and zeros above. Stateless: instances
 * need no shared state or lock. Pure: no node:* imports.
 */
import type { BusDevice } from '../../bus/bus.ts';
import { answerByte, writtenByte, type ByteSink } from '../device-contracts.ts';

export const FW_DEBUG_PORT_COUNT = 1;

/** What a read returns: the presence signature firmware looks for. */
export const FW_DEBUG_SIGNATURE = 0xe9;

export class FirmwareDebugPort implements BusDevice {
  private readonly output: ByteSink;
  /** Reused one-byte buffer handed to the sink. */
  private readonly outputByte = new Uint8Array(1);

  constructor(output: ByteSink) {
    this.output = output;
  }

  read(_offset: number, data: Uint8Array): void {
    answerByte(data, FW_DEBUG_SIGNATURE);
  }

  write(_offset: number, data: Uint8Array): void {
    if (data.length === 0) return;
    this.outputByte[0] = writtenByte(data);
    this.output.write(this.outputByte);
  }
}
