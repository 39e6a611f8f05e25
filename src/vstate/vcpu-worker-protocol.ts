/** What the main thread hands a vCPU worker (structured-cloned; SharedArrayBuffers stay shared) and what it sends back. */
import type { VcpuHandle } from '../hypervisor/hypervisor.ts';
import type { LegacySharedState } from '../devices/legacy-platform.ts';
import type { LogLevel } from '../util/logger.ts';
import type { PciViewData } from './pci-view.ts';
import type { VcpuStopReason } from './vcpu-loop.ts';

export interface VcpuWorkerData {
  vcpu: VcpuHandle;
  control: SharedArrayBuffer;
  legacy: LegacySharedState;
  /** eventfd wired to the serial port's GSI through irqfd. */
  serialIrqFd: number;
  /** Where serial output goes; undefined discards it (`--serial null`). */
  serialOutputFd: number | undefined;
  /** Where firmware debug port (0x402) bytes go. */
  firmwareDebugFd: number;
  logFd: number;
  logLevel: LogLevel;
  /** process.hrtime.bigint() when the VMM started: the time base of debug-port logs. */
  startTime: bigint;
  /** PCI segment 0 as this vCPU reaches it: the devices' mailboxes and doorbells, and the BAR map. */
  pci: PciViewData;
  /** The vCPU's exit counters (exit-counters.ts), which the main thread reads. */
  exitCounters: SharedArrayBuffer;
}

export type VcpuWorkerMessage = { type: 'ready'; thread: number } | { type: 'stopped'; reason: VcpuStopReason };
