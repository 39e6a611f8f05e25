/**
 * The split virtqueue's guest-memory layout (virtio 1.x §2.7): descriptor table, available ring and used ring,
 * their field offsets, flags, alignments and sizes. All fields are little-endian. Pure: no node:* imports.
 */

/** Largest queue size the spec allows (the highest power of two a 16-bit index can tell full from empty). */
export const VIRTQ_MAX_SIZE = 32768;

/** struct virtq_desc: one 16-byte descriptor of the descriptor table or of an indirect table. */
export const VIRTQ_DESC = {
  /** le64: guest-physical address of the buffer (or of the indirect table). */
  ADDR: 0,
  /** le32: length in bytes. */
  LEN: 8,
  /** le16: VIRTQ_DESC_F_* flags. */
  FLAGS: 12,
  /** le16: index of the next descriptor when VIRTQ_DESC_F_NEXT is set. */
  NEXT: 14,
  SIZE: 16,
} as const;

export const VIRTQ_DESC_F = {
  /** The chain continues at `next`. */
  NEXT: 1,
  /** The buffer is device-writable (otherwise device-readable). */
  WRITE: 2,
  /** The buffer is a table of descriptors (VIRTIO_F_INDIRECT_DESC). */
  INDIRECT: 4,
} as const;

/** struct virtq_avail, written by the driver. `used_event` follows the ring (only with VIRTIO_F_EVENT_IDX). */
export const VIRTQ_AVAIL = {
  /** le16: VIRTQ_AVAIL_F_* flags. */
  FLAGS: 0,
  /** le16: free-running index of the next ring entry the driver will fill. */
  IDX: 2,
  /** le16[size]: descriptor heads. */
  RING: 4,
  ENTRY_SIZE: 2,
} as const;

/** The driver does not want used-buffer notifications (ignored with VIRTIO_F_EVENT_IDX). */
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;

/** struct virtq_used, written by the device. `avail_event` follows the ring (only with VIRTIO_F_EVENT_IDX). */
export const VIRTQ_USED = {
  /** le16: VIRTQ_USED_F_* flags. */
  FLAGS: 0,
  /** le16: free-running index of the next ring entry the device will fill. */
  IDX: 2,
  /** struct virtq_used_elem[size]. */
  RING: 4,
  ELEM_SIZE: 8,
  /** le32 in virtq_used_elem: head of the used chain. */
  ELEM_ID: 0,
  /** le32 in virtq_used_elem: bytes the device wrote into the chain. */
  ELEM_LEN: 4,
} as const;

/** The device does not want available-buffer notifications (ignored with VIRTIO_F_EVENT_IDX). */
export const VIRTQ_USED_F_NO_NOTIFY = 1;

/** Minimum alignment, in bytes, of each part's guest-physical address. */
export const VIRTQ_ALIGN = {
  DESC_TABLE: 16,
  AVAIL_RING: 2,
  USED_RING: 4,
} as const;

/** Feature bits of the ring itself (virtio 1.x §6), negotiated by the transport. */
export const VIRTIO_RING_FEATURE = {
  /** VIRTIO_F_INDIRECT_DESC: descriptors may point at indirect tables. */
  INDIRECT_DESC: 28,
  /** VIRTIO_F_EVENT_IDX: used_event / avail_event replace the NO_INTERRUPT / NO_NOTIFY flags. */
  EVENT_IDX: 29,
} as const;

export function descriptorTableBytes(size: number): number {
  return VIRTQ_DESC.SIZE * size;
}

/** Offset of `used_event` in the available ring. */
export function usedEventOffset(size: number): number {
  return VIRTQ_AVAIL.RING + VIRTQ_AVAIL.ENTRY_SIZE * size;
}

/** Bytes of the available ring, `used_event` included. */
export function availRingBytes(size: number): number {
  return usedEventOffset(size) + 2;
}

/** Offset of `avail_event` in the used ring. */
export function availEventOffset(size: number): number {
  return VIRTQ_USED.RING + VIRTQ_USED.ELEM_SIZE * size;
}

/** Bytes of the used ring, `avail_event` included. */
export function usedRingBytes(size: number): number {
  return availEventOffset(size) + 2;
}

/** True for a valid queue size: a power of two from 1 to VIRTQ_MAX_SIZE. */
export function isValidQueueSize(size: number): boolean {
  return Number.isInteger(size) && size >= 1 && size <= VIRTQ_MAX_SIZE && (size & (size - 1)) === 0;
}
