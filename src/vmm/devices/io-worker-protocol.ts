/**
 * What the main thread hands a device's I/O worker (structured-cloned; SharedArrayBuffers stay shared) and what
 * the worker reports back. After 'ready' the worker blocks in epoll_wait and no longer reads messages: the main
 * thread talks to it through its mailbox (stop request) and doorbell.
 */
import type { VmHandle } from '../../hypervisor/hypervisor.ts';
import type { MappedRegion } from '../../host/guest-memory-views.ts';
import type { LogLevel } from '../../util/logger.ts';
import type { BarMapData } from './bar-map.ts';

/** The virtio device a worker runs, with what its backend needs (fds the main thread opened). */
export type VirtioDeviceSpec =
  | { kind: 'rng'; sourceFd: number }
  | {
      kind: 'disk';
      /** The raw image, opened read-only or read-write as `readonly` says. */
      fd: number;
      readonly: boolean;
      numQueues: number;
      queueSize: number;
      /** What GET_ID returns (at most 20 bytes). */
      serial: Uint8Array;
    };

export interface IoWorkerData {
  /** The device id (`__rng`, `_disk0`, ...): names the worker and its log lines. */
  id: string;
  /** The device's entry in the BAR map. */
  index: number;
  device: VirtioDeviceSpec;
  vm: VmHandle;
  memory: MappedRegion[];
  /** Where the main thread placed BAR0 (already in the BAR map). */
  barAddress: number;
  barMap: BarMapData;
  /** The VM's GSI route table (gsi-routes.ts). */
  gsiRoutes: SharedArrayBuffer;
  mailbox: SharedArrayBuffer;
  /** The eventfd vCPUs and the main thread write to wake the worker (non-blocking). */
  doorbellFd: number;
  logFd: number;
  logLevel: LogLevel;
  /** process.hrtime.bigint() when the VMM started: the time base of log lines. */
  startTime: bigint;
}

/** What a worker did, reported when it stops (and logged by the main thread). */
export interface IoWorkerCounters {
  /** Queue notifications that arrived through an ioeventfd (no exit to user space). */
  ioeventfdNotifications: number;
  /** Queue notifications that reached the transport as an MMIO write forwarded by a vCPU. */
  exitNotifications: number;
  /** Register accesses forwarded by vCPUs (configuration space and BAR0). */
  forwardedAccesses: number;
  /** MSI-X interrupts raised through irqfds. */
  interrupts: number;
}

export type IoWorkerMessage =
  | { type: 'ready'; thread: number }
  | { type: 'failed'; message: string }
  | { type: 'stopped'; counters: IoWorkerCounters };
