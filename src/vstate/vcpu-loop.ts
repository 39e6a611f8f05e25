/**
 * The vCPU run loop: runs the vCPU, dispatches port-I/O and MMIO exits to the buses in this thread, obeys the
 * control mailbox (pause/stop) when kicked, and reports why it stopped. Independent of Worker plumbing so unit tests
 * drive it with the fake hypervisor.
 */
import type { Bus } from '../bus/bus.ts';
import type { Vcpu } from '../hypervisor/hypervisor.ts';
import type { VcpuExit } from '../hypervisor/vcpu-exit.ts';
import { VCPU_COMMAND, VCPU_STATE, type VcpuControl } from './vcpu-control.ts';

/** Why a vCPU loop ended. */
export type VcpuStopReason =
  | { kind: 'stopped' }
  | { kind: 'guest-shutdown' }
  | { kind: 'guest-reset' }
  | { kind: 'triple-fault' }
  | { kind: 'error'; message: string };

export interface VcpuLoopContext {
  vcpu: Vcpu;
  control: VcpuControl;
  pio: Bus;
  mmio: Bus;
  /**
   * Set by devices (through PlatformControl) when the guest asked for power-off or reset during the last exit;
   * the loop returns it instead of re-entering the guest.
   */
  pendingStop: () => VcpuStopReason | undefined;
  onPaused?: () => void;
}

export function runVcpuLoop(ctx: VcpuLoopContext): VcpuStopReason {
  const { vcpu, control } = ctx;
  control.state = VCPU_STATE.RUNNING;
  for (;;) {
    const exit = vcpu.run();
    const stop = handleExit(exit, ctx) ?? ctx.pendingStop();
    if (stop) return finish(control, stop);
    if (exit.kind === 'interrupted') {
      vcpu.clearExitRequest();
      if (control.takeNmiRequest()) vcpu.injectNmi();
      const command = control.command;
      if (command === VCPU_COMMAND.STOP) return finish(control, { kind: 'stopped' });
      if (command === VCPU_COMMAND.PAUSE) {
        control.state = VCPU_STATE.PAUSED;
        ctx.onPaused?.();
        control.waitWhileCommand(VCPU_COMMAND.PAUSE);
        if (control.command === VCPU_COMMAND.STOP) return finish(control, { kind: 'stopped' });
        control.state = VCPU_STATE.RUNNING;
      }
    }
  }
}

function finish(control: VcpuControl, reason: VcpuStopReason): VcpuStopReason {
  control.state = VCPU_STATE.EXITED;
  return reason;
}

/** Handles one exit; returns a stop reason when the vCPU must not run again. */
function handleExit(exit: VcpuExit, ctx: VcpuLoopContext): VcpuStopReason | undefined {
  switch (exit.kind) {
    case 'io-out':
    case 'io-in': {
      const { size, count, data, port } = exit;
      const write = exit.kind === 'io-out';
      if (count === 1) {
        // The common case (no rep ins/outs): no per-element view on the hot path.
        if (write) ctx.pio.write(port, data);
        else ctx.pio.read(port, data);
        return undefined;
      }
      for (let i = 0; i < count; i++) {
        const element = data.subarray(i * size, (i + 1) * size);
        if (write) ctx.pio.write(port, element);
        else ctx.pio.read(port, element);
      }
      return undefined;
    }
    case 'mmio-write':
      ctx.mmio.write(exit.address, exit.data);
      return undefined;
    case 'mmio-read':
      ctx.mmio.read(exit.address, exit.data);
      return undefined;
    case 'interrupted':
      return undefined;
    case 'shutdown':
      return { kind: 'triple-fault' };
    case 'system-event':
      if (exit.event === 'shutdown') return { kind: 'guest-shutdown' };
      if (exit.event === 'reset') return { kind: 'guest-reset' };
      return { kind: 'error', message: `guest system event ${exit.event} (type ${exit.code})` };
    case 'hlt':
      return { kind: 'error', message: 'vCPU halted with no in-kernel irqchip to wake it' };
    case 'internal-error':
      return {
        kind: 'error',
        message: `hypervisor internal error (suberror ${exit.suberror}${exit.detail.length ? `, data ${exit.detail.map((d) => `0x${d.toString(16)}`).join(' ')}` : ''}): the hypervisor could not run or emulate a guest instruction`,
      };
    case 'fail-entry':
      return { kind: 'error', message: `hypervisor failed to enter the guest (hardware reason 0x${exit.reason.toString(16)})` };
    case 'unhandled':
      return { kind: 'error', message: `unhandled vCPU exit reason ${exit.reason}` };
  }
}
