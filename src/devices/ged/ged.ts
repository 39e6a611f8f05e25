/**
 * The ACPI Generic Event Device (Cloud Hypervisor's AcpiGedDevice): how the VMM tells a hardware-reduced ACPI
 * guest that something happened (for now, that the power button was pressed).
 *
 * One byte of MMIO at GED_MMIO_START, the DSDT's `\_SB_.GEC_.GDAT`. The VMM calls `notify(bits)`, which ORs the
 * bits into the register and raises the GED's edge-triggered interrupt (GSI 5); the guest's interrupt handler runs
 * `\_SB_.GED_._EVT`, whose scan method reads the register once and acts on each bit. A read returns the pending
 * bits and clears them (a wider read returns them in its low byte, zeros above); writes and other offsets are
 * ignored (they read 0). The state lives in shared memory so every vCPU worker and the main thread see one
 * register; callers serialise accesses with the platform's device lock.
 *
 * Only the thread that raises events needs the interrupt line: vCPU workers only read the register, so their
 * instances are built without one and `notify` on them is a DEVICE_ABSENT error. A restore brings back pending
 * bits without raising the interrupt again: an edge already delivered lives in the interrupt controller's state.
 * Pure: no node:* imports.
 */
import type { InterruptLine } from '../../interrupt/interrupt-line.ts';
import { answerByte, type StatefulDevice } from '../device-contracts.ts';
import { DeviceError } from '../device-error.ts';
import {
  gedStateView,
  powerOnGed,
  restoreGed,
  saveGed,
  GED_NOTIFICATION_MASK,
  GED_STATE,
  GED_STATE_BYTES,
  type GedSnapshot,
} from './ged-state.ts';

/** Offset of the notification register in the GED's MMIO range. */
export const GED_REGISTER_OFFSET = 0;

export class GenericEventDevice implements StatefulDevice {
  static readonly STATE_BYTES = GED_STATE_BYTES;

  private readonly state: Uint8Array;
  private readonly interrupt: InterruptLine | undefined;

  static powerOn(state: SharedArrayBuffer): void {
    powerOnGed(gedStateView(state));
  }

  /** `interrupt` is the GED's GSI; omit it on threads that never call `notify` (the vCPU workers). */
  constructor(state: SharedArrayBuffer, interrupt: InterruptLine | undefined) {
    this.state = gedStateView(state);
    this.interrupt = interrupt;
  }

  /** Adds notification `bits` (GED_NOTIFICATION values) to the register and interrupts the guest. */
  notify(bits: number): void {
    if (!Number.isInteger(bits) || bits <= 0 || (bits & ~GED_NOTIFICATION_MASK) !== 0) {
      throw new DeviceError(
        'BAD_CONFIG',
        `GED notification bits ${String(bits)} are not a non-empty set of the bits the DSDT handles ` +
          `(mask 0x${GED_NOTIFICATION_MASK.toString(16)}); use GED_NOTIFICATION`,
      );
    }
    if (!this.interrupt) {
      throw new DeviceError(
        'DEVICE_ABSENT',
        "this thread's GED has no interrupt line; raise GED events through the main thread's platform, " +
          'built with gedInterrupt',
      );
    }
    this.state[GED_STATE.PENDING] = this.state[GED_STATE.PENDING]! | bits;
    this.interrupt.trigger();
  }

  read(offset: number, data: Uint8Array): void {
    if (offset !== GED_REGISTER_OFFSET) {
      data.fill(0);
      return;
    }
    answerByte(data, this.state[GED_STATE.PENDING]!);
    this.state[GED_STATE.PENDING] = 0;
  }

  /** The register is read-only: guest writes are ignored. */
  write(_offset: number, _data: Uint8Array): void {}

  save(): GedSnapshot {
    return saveGed(this.state);
  }

  restore(data: unknown): void {
    restoreGed(this.state, data);
  }
}
