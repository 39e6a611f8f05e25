/**
 * The virtqueue error class. Two kinds of failure use it: a request the guest driver built wrongly (a bad
 * descriptor chain: the device completes or fails that one request) and a queue the driver or the VMM configured
 * or drove wrongly (the device sets DEVICE_NEEDS_RESET or refuses the configuration). Pure: no node:* imports.
 */
import { NimbusError } from '../../errors/nimbus-error.ts';

export type VirtqueueErrorCode =
  // --- queue configuration and state (the transport or the device decides what the guest sees) ---
  /** A queue size that is 0, not a power of two, or above the device's maximum (at most 32768). */
  | 'BAD_QUEUE_SIZE'
  /** A descriptor table, available ring or used ring address without the alignment the spec requires. */
  | 'MISALIGNED_RING'
  /** A descriptor table, available ring or used ring that does not lie inside guest memory. */
  | 'RING_OUT_OF_RANGE'
  /** The queue was used (pop, addUsed, notification control) before it was enabled. */
  | 'QUEUE_NOT_READY'
  /** The queue's size or addresses were changed while it is enabled. */
  | 'QUEUE_ENABLED'
  /** The driver's available index ran more than the queue size ahead of the entries the device has taken. */
  | 'BAD_AVAIL_INDEX'
  /** The available ring names a descriptor head outside the descriptor table. */
  | 'BAD_HEAD_INDEX'
  /** The device returned a used entry with a head outside the table or a length that is not a u32. */
  | 'BAD_USED_ENTRY'
  /** A queue snapshot that is not the versioned object `save()` produces. */
  | 'BAD_SNAPSHOT'
  // --- descriptor chains (one request is bad; the queue stays usable) ---
  /** A descriptor's `next` names an index outside its (direct or indirect) descriptor table. */
  | 'NEXT_OUT_OF_RANGE'
  /** A chain has more descriptors than its table has entries: it loops. */
  | 'CHAIN_LOOP'
  /** VIRTQ_DESC_F_INDIRECT used without VIRTIO_F_INDIRECT_DESC negotiated. */
  | 'INDIRECT_NOT_NEGOTIATED'
  /** VIRTQ_DESC_F_INDIRECT inside an indirect table (only one level is allowed). */
  | 'NESTED_INDIRECT'
  /** VIRTQ_DESC_F_INDIRECT together with VIRTQ_DESC_F_NEXT (the indirect table must end the chain). */
  | 'INDIRECT_WITH_NEXT'
  /** An indirect table whose length is 0, not a multiple of 16 bytes, or above 65536 entries. */
  | 'BAD_INDIRECT_TABLE'
  /** An indirect table that does not lie inside guest memory. */
  | 'INDIRECT_TABLE_OUT_OF_RANGE'
  /** A buffer that does not lie inside guest memory (or whose address wraps). */
  | 'BUFFER_OUT_OF_RANGE'
  /** A device-readable descriptor after a device-writable one (the spec requires readable ones first). */
  | 'READABLE_AFTER_WRITABLE'
  /** Buffers that total more than 2^32 - 1 bytes. */
  | 'CHAIN_TOO_LARGE'
  // --- chain readers and writers (device code asked for more than the chain holds) ---
  /** A read of more device-readable bytes than the chain has left (e.g. a request header cut short). */
  | 'SHORT_CHAIN'
  /** A commit or skip longer than what remains, or a commit without views. */
  | 'BAD_CHAIN_CURSOR';

export class VirtqueueError extends NimbusError<VirtqueueErrorCode> {}
