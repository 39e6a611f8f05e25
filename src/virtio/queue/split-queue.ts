/**
 * The device side of a split virtqueue (virtio 1.x §2.7): configuration and enabling, taking descriptor chains
 * from the available ring, returning them through the used ring, notification suppression in both directions
 * (VIRTQ_AVAIL_F_NO_INTERRUPT / VIRTQ_USED_F_NO_NOTIFY, or used_event / avail_event with VIRTIO_F_EVENT_IDX),
 * reset and snapshots. Pure: no node:* imports.
 *
 * Memory ordering. The queue is driven by one device thread, but the guest driver runs concurrently on vCPUs,
 * so the order of our guest-memory accesses is the protocol:
 * - pop() reads the available `idx` before the ring entry and the descriptors it covers (the driver writes them
 *   before it publishes `idx`). x86-64 does not reorder loads with loads, and every access is a separate
 *   GuestMemory call, so nothing is read early.
 * - addUsed() writes the used element before the used `idx` that publishes it; x86-64 keeps stores in order.
 * - needsNotification() and enableNotification() store (used `idx`, flags, avail_event) and then load what the
 *   driver wrote (used_event, flags, avail `idx`). x86-64 may let such a load pass the store, which loses a
 *   wake-up on one side, so a full fence (a sequentially consistent atomic read-modify-write, a locked
 *   instruction) separates them, as the spec's "suitable memory barrier" asks.
 */
import { SnapshotReader } from '../../util/snapshot-reader.ts';
import type { GuestMemory } from '../../memory/guest-memory.ts';
import { readDescriptorChain, type DescriptorChain, type DescriptorTable } from './descriptor-chain.ts';
import { VirtqueueError } from './virtqueue-error.ts';
import {
  VIRTQ_ALIGN,
  VIRTQ_AVAIL,
  VIRTQ_AVAIL_F_NO_INTERRUPT,
  VIRTQ_USED,
  VIRTQ_USED_F_NO_NOTIFY,
  availEventOffset,
  availRingBytes,
  descriptorTableBytes,
  isValidQueueSize,
  usedEventOffset,
  usedRingBytes,
} from './virtq-layout.ts';

/** What the driver configures before enabling the queue (through the transport). */
export interface SplitQueueConfig {
  /** Entries in the descriptor table and both rings: a power of two up to the queue's maximum. */
  readonly size: number;
  /** Guest-physical address of the descriptor table (16-byte aligned). */
  readonly descTable: number;
  /** Guest-physical address of the available ring (2-byte aligned). */
  readonly availRing: number;
  /** Guest-physical address of the used ring (4-byte aligned). */
  readonly usedRing: number;
  /** VIRTIO_F_EVENT_IDX was negotiated. */
  readonly eventIdx: boolean;
  /** VIRTIO_F_INDIRECT_DESC was negotiated. */
  readonly indirectDescriptors: boolean;
}

/** The next available chain: valid, or invalid with the reason (the device still owes the driver a used entry). */
export type PoppedChain =
  | { readonly kind: 'chain'; readonly chain: DescriptorChain }
  | { readonly kind: 'invalid'; readonly headIndex: number; readonly error: VirtqueueError };

export const SPLIT_QUEUE_SNAPSHOT_VERSION = 1;

export interface SplitQueueSnapshot extends SplitQueueConfig {
  readonly version: typeof SPLIT_QUEUE_SNAPSHOT_VERSION;
  readonly ready: boolean;
  readonly nextAvail: number;
  readonly nextUsed: number;
  /** Used `idx` when needsNotification() last ran (what it compares used_event against). */
  readonly signalledUsed: number;
}

const U16_MASK = 0xffff;
const U32_MAX = 0xffff_ffff;

/** Target of the fence's atomic read-modify-write; its value does not matter. */
const fenceWord = new Int32Array(new SharedArrayBuffer(4));

/** A full memory fence: orders every earlier load and store before every later one. */
function fullFence(): void {
  Atomics.add(fenceWord, 0, 0);
}

export class SplitQueue {
  /** Largest size the device offers (what the transport reports as the queue size after reset). */
  readonly maxSize: number;
  private readonly memory: GuestMemory;
  private configuration: SplitQueueConfig;
  private enabled = false;
  private table: DescriptorTable;
  private nextAvailIndex = 0;
  private nextUsedIndex = 0;
  private signalledUsed = 0;

  constructor(memory: GuestMemory, maxSize: number) {
    if (!isValidQueueSize(maxSize)) {
      throw new VirtqueueError('BAD_QUEUE_SIZE', `virtqueue maximum size ${maxSize} is not a power of two from 1 to 32768`);
    }
    this.memory = memory;
    this.maxSize = maxSize;
    this.configuration = initialConfig(maxSize);
    this.table = { address: 0, queueSize: maxSize, indirectDescriptors: false };
  }

  get config(): SplitQueueConfig {
    return this.configuration;
  }

  get ready(): boolean {
    return this.enabled;
  }

  /** Free-running (16-bit) index of the next available ring entry the device will take. */
  get nextAvail(): number {
    return this.nextAvailIndex;
  }

  /** Free-running (16-bit) index of the next used ring entry the device will fill. */
  get nextUsed(): number {
    return this.nextUsedIndex;
  }

  /** Changes configuration fields; refused (QUEUE_ENABLED) once the queue is enabled. Checked by enable(). */
  configure(changes: Partial<SplitQueueConfig>): void {
    if (this.enabled) {
      throw new VirtqueueError('QUEUE_ENABLED', 'virtqueue configuration cannot change while the queue is enabled; reset it first');
    }
    this.configuration = { ...this.configuration, ...changes };
  }

  /**
   * Checks the configuration (size, alignment, every part inside guest memory) and enables the queue.
   * Throws BAD_QUEUE_SIZE, MISALIGNED_RING or RING_OUT_OF_RANGE and stays disabled on a bad configuration.
   */
  enable(): void {
    const { size, descTable, availRing, usedRing, indirectDescriptors } = this.configuration;
    if (!isValidQueueSize(size) || size > this.maxSize) {
      throw new VirtqueueError('BAD_QUEUE_SIZE', `virtqueue size ${size} is not a power of two from 1 to ${this.maxSize}`);
    }
    const parts = [
      { name: 'descriptor table', address: descTable, bytes: descriptorTableBytes(size), align: VIRTQ_ALIGN.DESC_TABLE },
      { name: 'available ring', address: availRing, bytes: availRingBytes(size), align: VIRTQ_ALIGN.AVAIL_RING },
      { name: 'used ring', address: usedRing, bytes: usedRingBytes(size), align: VIRTQ_ALIGN.USED_RING },
    ];
    for (const part of parts) {
      if (Number.isSafeInteger(part.address) && part.address % part.align !== 0) {
        throw new VirtqueueError(
          'MISALIGNED_RING',
          `virtqueue ${part.name} address 0x${part.address.toString(16)} is not ${part.align}-byte aligned`,
        );
      }
      if (!this.memory.isValid(part.address, part.bytes)) {
        throw new VirtqueueError(
          'RING_OUT_OF_RANGE',
          `virtqueue ${part.name} 0x${part.address.toString(16)}+0x${part.bytes.toString(16)} is outside guest memory`,
        );
      }
    }
    this.table = { address: descTable, queueSize: size, indirectDescriptors };
    this.enabled = true;
  }

  /** Back to the state after device reset: disabled, maximum size, zero addresses and indices, no features. */
  reset(): void {
    this.configuration = initialConfig(this.maxSize);
    this.table = { address: 0, queueSize: this.maxSize, indirectDescriptors: false };
    this.enabled = false;
    this.nextAvailIndex = 0;
    this.nextUsedIndex = 0;
    this.signalledUsed = 0;
  }

  /**
   * Takes the next chain the driver made available, or returns null when there is none. A chain that breaks
   * the spec comes back as `{ kind: 'invalid' }`: it is consumed, and the device should return it with
   * addUsed(headIndex, 0) (or fail the device). Throws VirtqueueError only when the queue itself is unusable
   * (QUEUE_NOT_READY, BAD_AVAIL_INDEX, BAD_HEAD_INDEX): the device should then set DEVICE_NEEDS_RESET.
   */
  pop(): PoppedChain | null {
    this.checkReady('pop');
    const { size, availRing } = this.configuration;
    const availIdx = this.memory.readU16(availRing + VIRTQ_AVAIL.IDX);
    const pending = (availIdx - this.nextAvailIndex) & U16_MASK;
    if (pending === 0) return null;
    if (pending > size) {
      throw new VirtqueueError(
        'BAD_AVAIL_INDEX',
        `virtqueue available idx ${availIdx} is ${pending} entries ahead of the device (${this.nextAvailIndex}), more than the queue size ${size}`,
      );
    }
    const slot = this.nextAvailIndex % size;
    const headIndex = this.memory.readU16(availRing + VIRTQ_AVAIL.RING + VIRTQ_AVAIL.ENTRY_SIZE * slot);
    if (headIndex >= size) {
      throw new VirtqueueError(
        'BAD_HEAD_INDEX',
        `virtqueue available ring entry ${slot} names descriptor ${headIndex}, outside the table of ${size}`,
      );
    }
    this.nextAvailIndex = (this.nextAvailIndex + 1) & U16_MASK;
    try {
      return { kind: 'chain', chain: readDescriptorChain(this.memory, this.table, headIndex) };
    } catch (error) {
      if (error instanceof VirtqueueError) return { kind: 'invalid', headIndex, error };
      throw error;
    }
  }

  /** Returns a chain to the driver: `writtenLength` bytes were written into its writable buffers. */
  addUsed(headIndex: number, writtenLength: number): void {
    this.checkReady('addUsed');
    const { size, usedRing } = this.configuration;
    if (!Number.isInteger(headIndex) || headIndex < 0 || headIndex >= size) {
      throw new VirtqueueError('BAD_USED_ENTRY', `used head ${headIndex} is outside the descriptor table of ${size}`);
    }
    if (!Number.isInteger(writtenLength) || writtenLength < 0 || writtenLength > U32_MAX) {
      throw new VirtqueueError('BAD_USED_ENTRY', `used length ${writtenLength} is not a 32-bit byte count`);
    }
    const element = usedRing + VIRTQ_USED.RING + VIRTQ_USED.ELEM_SIZE * (this.nextUsedIndex % size);
    this.memory.writeU32(element + VIRTQ_USED.ELEM_ID, headIndex);
    this.memory.writeU32(element + VIRTQ_USED.ELEM_LEN, writtenLength);
    this.nextUsedIndex = (this.nextUsedIndex + 1) & U16_MASK;
    this.memory.writeU16(usedRing + VIRTQ_USED.IDX, this.nextUsedIndex);
  }

  /**
   * Whether the driver wants a used-buffer notification for the entries added since the last call: false if
   * none were added; with VIRTIO_F_EVENT_IDX, true if used_event lies among them; otherwise true unless the
   * driver set VIRTQ_AVAIL_F_NO_INTERRUPT. Call it once after each batch of addUsed().
   */
  needsNotification(): boolean {
    this.checkReady('needsNotification');
    const { size, availRing, eventIdx } = this.configuration;
    const previous = this.signalledUsed;
    const current = this.nextUsedIndex;
    this.signalledUsed = current;
    if (previous === current) return false;
    fullFence();
    if (eventIdx) {
      const usedEvent = this.memory.readU16(availRing + usedEventOffset(size));
      return eventCrossed(usedEvent, current, previous);
    }
    return (this.memory.readU16(availRing + VIRTQ_AVAIL.FLAGS) & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
  }

  /**
   * Asks the driver to notify again for new available entries (clears VIRTQ_USED_F_NO_NOTIFY, or sets
   * avail_event to the next entry) and returns true if entries arrived meanwhile: the device must then pop
   * again rather than wait, or it could sleep on entries the driver published before seeing the request.
   */
  enableNotification(): boolean {
    this.checkReady('enableNotification');
    const { size, usedRing, availRing, eventIdx } = this.configuration;
    if (eventIdx) this.memory.writeU16(usedRing + availEventOffset(size), this.nextAvailIndex);
    else this.memory.writeU16(usedRing + VIRTQ_USED.FLAGS, 0);
    fullFence();
    return this.memory.readU16(availRing + VIRTQ_AVAIL.IDX) !== this.nextAvailIndex;
  }

  /**
   * Tells the driver not to notify for new available entries (while the device is busy popping). With
   * VIRTIO_F_EVENT_IDX there is nothing to write: avail_event stays at the entry enableNotification() named,
   * which the driver has passed once it notified, so it does not notify again until the next enable.
   */
  disableNotification(): void {
    this.checkReady('disableNotification');
    const { usedRing, eventIdx } = this.configuration;
    if (!eventIdx) this.memory.writeU16(usedRing + VIRTQ_USED.FLAGS, VIRTQ_USED_F_NO_NOTIFY);
  }

  save(): SplitQueueSnapshot {
    return {
      version: SPLIT_QUEUE_SNAPSHOT_VERSION,
      ...this.configuration,
      ready: this.enabled,
      nextAvail: this.nextAvailIndex,
      nextUsed: this.nextUsedIndex,
      signalledUsed: this.signalledUsed,
    };
  }

  /**
   * Restores what save() produced (guest memory must be restored first: an enabled queue is checked against
   * it). Throws BAD_SNAPSHOT for a malformed snapshot, or enable()'s errors for a bad configuration; on error
   * the queue is left reset.
   */
  restore(snapshot: unknown): void {
    this.reset();
    try {
      const fields = snapshotFields(snapshot);
      this.configure({
        size: fields.integer('size', this.maxSize),
        descTable: fields.integer('descTable', Number.MAX_SAFE_INTEGER),
        availRing: fields.integer('availRing', Number.MAX_SAFE_INTEGER),
        usedRing: fields.integer('usedRing', Number.MAX_SAFE_INTEGER),
        eventIdx: fields.boolean('eventIdx'),
        indirectDescriptors: fields.boolean('indirectDescriptors'),
      });
      const nextAvail = fields.integer('nextAvail', U16_MASK);
      const nextUsed = fields.integer('nextUsed', U16_MASK);
      const signalledUsed = fields.integer('signalledUsed', U16_MASK);
      if (fields.boolean('ready')) this.enable();
      this.nextAvailIndex = nextAvail;
      this.nextUsedIndex = nextUsed;
      this.signalledUsed = signalledUsed;
    } catch (error) {
      this.reset();
      throw error;
    }
  }

  private checkReady(operation: string): void {
    if (!this.enabled) {
      throw new VirtqueueError('QUEUE_NOT_READY', `virtqueue ${operation} on a queue that is not enabled`);
    }
  }
}

/**
 * True if entry `event` is among the entries `previous` up to `current - 1` written since the last check
 * (indices modulo 65536): the other side asked to be told once that entry is written (Linux's
 * vring_need_event).
 */
export function eventCrossed(event: number, current: number, previous: number): boolean {
  return ((current - event - 1) & U16_MASK) < ((current - previous) & U16_MASK);
}

function initialConfig(maxSize: number): SplitQueueConfig {
  return { size: maxSize, descTable: 0, availRing: 0, usedRing: 0, eventIdx: false, indirectDescriptors: false };
}

/** Typed access to an untrusted snapshot object; every failure is BAD_SNAPSHOT naming the field. */
function snapshotFields(snapshot: unknown): SnapshotReader {
  const fail = (message: string): VirtqueueError => new VirtqueueError('BAD_SNAPSHOT', message);
  return new SnapshotReader(snapshot, 'the virtqueue snapshot', fail, SPLIT_QUEUE_SNAPSHOT_VERSION);
}
