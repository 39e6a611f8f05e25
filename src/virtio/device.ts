/**
 * The contract between a virtio transport (virtio-pci today) and a device implementation (rng, blk, net, ...):
 * what a device declares (type, queues, features, configuration space), how the transport hands it the driver's
 * queues when the driver sets DRIVER_OK, and how it signals the driver back. Plus the device type ids and the
 * feature bits that belong to the transport and the queues (virtio 1.x §5, §6). Pure: no node:* imports.
 */
import type { GuestMemory } from '../memory/guest-memory.ts';
import type { SplitQueue } from './queue/split-queue.ts';

/** Device type ids (virtio 1.x §5; the ones Cloud Hypervisor implements). The PCI device ID is 0x1040 + type. */
export const VIRTIO_DEVICE_TYPE = {
  NET: 1,
  BLOCK: 2,
  CONSOLE: 3,
  RNG: 4,
  BALLOON: 5,
  RTC: 17,
  VSOCK: 19,
  IOMMU: 23,
  MEM: 24,
  FS: 26,
  PMEM: 27,
  WATCHDOG: 35,
} as const;

/**
 * Feature bits that are not device-specific (virtio 1.x §6), as masks of the 64-bit feature word. Bits 24-41 are
 * the transport's and the queues'; a device offers only the ones its transport implements.
 */
export const VIRTIO_F = {
  /** Descriptors may point to indirect descriptor tables. */
  RING_INDIRECT_DESC: 1n << 28n,
  /** used_event / avail_event replace the ring flags for notification suppression. */
  RING_EVENT_IDX: 1n << 29n,
  /** Compliant with virtio 1.x (non-legacy); a modern-only transport always offers it. */
  VERSION_1: 1n << 32n,
  /** The device accesses memory through a platform IOMMU: queue and buffer addresses are I/O virtual addresses. */
  ACCESS_PLATFORM: 1n << 33n,
  /** Packed virtqueues. */
  RING_PACKED: 1n << 34n,
  /** The device uses buffers in the order the driver made them available. */
  IN_ORDER: 1n << 35n,
  /** The driver must use platform (hardware) memory ordering. */
  ORDER_PLATFORM: 1n << 36n,
  /** The device supports single root I/O virtualization. */
  SR_IOV: 1n << 37n,
  /** The driver passes extra data in its notifications. */
  NOTIFICATION_DATA: 1n << 38n,
  /** The driver takes the notification value from queue_notify_data. */
  NOTIF_CONFIG_DATA: 1n << 39n,
  /** Individual queues can be reset. */
  RING_RESET: 1n << 40n,
  /** The device has an administration virtqueue. */
  ADMIN_VQ: 1n << 41n,
} as const;

/** How a device signals the driver. Calls after the driver reset the device are ignored. */
export interface VirtioInterrupts {
  /** Used-buffer notification for queue `index` (after needsNotification() said the driver wants one). */
  queue(index: number): void;
  /** The device changed its configuration space: bumps config_generation and sends a configuration notification. */
  config(): void;
}

/** What a device gets when the driver sets DRIVER_OK. */
export interface VirtioActivation {
  readonly memory: GuestMemory;
  /** Queue `i` is `queues[i]`, configured and enabled; a queue the driver did not enable has `ready === false`. */
  readonly queues: readonly SplitQueue[];
  readonly interrupts: VirtioInterrupts;
  /** The negotiated features: a subset of the offered ones that includes VIRTIO_F.VERSION_1. */
  readonly features: bigint;
  /**
   * A fatal error (a queue the driver broke, a backend that failed): sets DEVICE_NEEDS_RESET and notifies the
   * driver. The device should stop processing until it is reset.
   */
  needsReset(reason: string): void;
}

/** A virtio device as its transport drives it. */
export interface VirtioDevice {
  /** One of VIRTIO_DEVICE_TYPE (any type id 1-63 works with virtio-pci). */
  readonly deviceType: number;
  /** Maximum size of each queue (powers of two up to 32768); the length is the number of queues. */
  readonly queueMaxSizes: readonly number[];
  /**
   * Features the device offers: device-specific bits plus the transport bits it supports. The transport adds
   * VIRTIO_F.VERSION_1 itself.
   */
  readonly availableFeatures: bigint;
  /** Bytes of device-specific configuration space (0 for none, at most 4096 on virtio-pci). */
  readonly configSize: number;
  /** Fills `data` from configuration offset `offset`; the transport keeps the range inside configSize. */
  readConfig(offset: number, data: Uint8Array): void;
  /** A driver write to configuration offset `offset`; the transport keeps the range inside configSize. */
  writeConfig(offset: number, data: Uint8Array): void;
  /**
   * The driver set DRIVER_OK: start processing `context.queues`. Throwing refuses activation: the transport then
   * sets DEVICE_NEEDS_RESET.
   */
  activate(context: VirtioActivation): void;
  /** The driver reset the device after activating it: stop processing and forget the queues. */
  reset(): void;
  /** The driver notified queue `index` (through its ioeventfd, or a notify write that reached the transport). */
  queueNotified(index: number): void;
}
