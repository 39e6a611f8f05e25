/**
 * A mock split-virtqueue driver for unit tests: what a guest driver does. It lays a queue out in guest memory,
 * builds descriptor chains (device-readable buffers with contents, device-writable buffers, optionally through
 * an indirect table), publishes them, decides whether to notify the device, and collects used entries. Raw
 * writers (descriptors, ring entries, indices) let tests build the malicious queues a driver should never make.
 */
import { GuestMemory } from '../../src/memory/guest-memory.ts';
import type { GuestBuffer } from '../../src/virtio/queue/descriptor-chain.ts';
import { SplitQueue, eventCrossed, type SplitQueueConfig } from '../../src/virtio/queue/split-queue.ts';
import {
  VIRTQ_ALIGN,
  VIRTQ_AVAIL,
  VIRTQ_DESC,
  VIRTQ_DESC_F,
  VIRTQ_USED,
  VIRTQ_USED_F_NO_NOTIFY,
  availEventOffset,
  availRingBytes,
  descriptorTableBytes,
  usedEventOffset,
  usedRingBytes,
} from '../../src/virtio/queue/virtq-layout.ts';

export interface VirtqDriverOptions {
  /** Queue size (a power of two). */
  readonly size: number;
  /** Where the descriptor table starts; the available and used rings follow it (16-byte aligned). */
  readonly queueBase: number;
  /** Area the driver takes buffers and indirect tables from. */
  readonly dataBase: number;
  readonly dataSize: number;
  /** VIRTIO_F_EVENT_IDX negotiated: the driver uses avail_event to decide on notifications. */
  readonly eventIdx?: boolean;
}

/** A request as a driver builds it. */
export interface ChainSpec {
  /** Contents of the device-readable buffers, in order. */
  readonly readable?: readonly Uint8Array[];
  /** Lengths of the device-writable buffers, in order. */
  readonly writable?: readonly number[];
  /** Put the buffers in an indirect table referenced by one descriptor of the queue's table. */
  readonly indirect?: boolean;
}

/** A chain the driver added: its head and where its buffers are. */
export interface AddedChain {
  readonly head: number;
  readonly readable: readonly GuestBuffer[];
  readonly writable: readonly GuestBuffer[];
}

/** A descriptor exactly as written to guest memory (addr may be any 64-bit value). */
export interface RawDescriptor {
  readonly addr: number | bigint;
  readonly len: number;
  readonly flags: number;
  readonly next: number;
}

export interface UsedEntry {
  readonly id: number;
  readonly len: number;
}

export class VirtqDriver {
  readonly memory: GuestMemory;
  readonly size: number;
  readonly descTable: number;
  readonly availRing: number;
  readonly usedRing: number;
  private readonly eventIdx: boolean;
  private readonly dataBase: number;
  private readonly dataEnd: number;
  private dataNext: number;
  private readonly freeDescriptors: number[];
  /** Descriptor indices of each chain in flight, by head. */
  private readonly inFlight = new Map<number, number[]>();
  private availIdx = 0;
  private added = 0;
  private lastUsed = 0;

  constructor(memory: GuestMemory, options: VirtqDriverOptions) {
    this.memory = memory;
    this.size = options.size;
    this.eventIdx = options.eventIdx ?? false;
    this.descTable = alignUp(options.queueBase, VIRTQ_ALIGN.DESC_TABLE);
    this.availRing = this.descTable + descriptorTableBytes(this.size);
    this.usedRing = alignUp(this.availRing + availRingBytes(this.size), VIRTQ_ALIGN.USED_RING);
    memory.fill(this.descTable, this.usedRing + usedRingBytes(this.size) - this.descTable);
    this.dataBase = options.dataBase;
    this.dataEnd = options.dataBase + options.dataSize;
    this.dataNext = options.dataBase;
    this.freeDescriptors = Array.from({ length: this.size }, (_, index) => index);
  }

  /** The configuration a transport would give SplitQueue.configure() for this layout. */
  queueConfig(indirectDescriptors = true): SplitQueueConfig {
    return {
      size: this.size,
      descTable: this.descTable,
      availRing: this.availRing,
      usedRing: this.usedRing,
      eventIdx: this.eventIdx,
      indirectDescriptors,
    };
  }

  /** Builds a chain and places its head in the available ring; publish() makes it visible. */
  addChain(spec: ChainSpec): AddedChain {
    const readable = (spec.readable ?? []).map((bytes) => {
      const addr = this.allocate(bytes.length);
      this.memory.write(addr, bytes);
      return { addr, length: bytes.length };
    });
    const writable = (spec.writable ?? []).map((length) => {
      const addr = this.allocate(length);
      this.memory.fill(addr, length, 0xee);
      return { addr, length };
    });
    const buffers = [
      ...readable.map((b) => ({ ...b, flags: 0 })),
      ...writable.map((b) => ({ ...b, flags: VIRTQ_DESC_F.WRITE })),
    ];
    if (buffers.length === 0) throw new Error('VirtqDriver.addChain: a chain needs at least one buffer');
    let head: number;
    if (spec.indirect) {
      const table = this.allocate(buffers.length * VIRTQ_DESC.SIZE, VIRTQ_ALIGN.DESC_TABLE);
      buffers.forEach((b, i) => this.writeDescriptor(table, i, linked(b, i + 1, i + 1 < buffers.length)));
      const [index] = this.takeDescriptors(1);
      head = index!;
      this.writeDescriptor(this.descTable, head, {
        addr: table,
        len: buffers.length * VIRTQ_DESC.SIZE,
        flags: VIRTQ_DESC_F.INDIRECT,
        next: 0,
      });
      this.inFlight.set(head, [head]);
    } else {
      const indices = this.takeDescriptors(buffers.length);
      buffers.forEach((b, i) => this.writeDescriptor(this.descTable, indices[i]!, linked(b, indices[i + 1] ?? 0, i + 1 < buffers.length)));
      head = indices[0]!;
      this.inFlight.set(head, indices);
    }
    this.makeAvailable(head);
    return { head, readable, writable };
  }

  /** Writes `head` into the next available ring slot (not yet visible to the device). */
  makeAvailable(head: number): void {
    const slot = (this.availIdx + this.added) % this.size;
    this.memory.writeU16(this.availRing + VIRTQ_AVAIL.RING + VIRTQ_AVAIL.ENTRY_SIZE * slot, head);
    this.added++;
  }

  /**
   * Publishes the added heads by advancing the available idx and returns whether the device asked to be
   * notified (Linux's virtqueue_kick_prepare: avail_event with VIRTIO_F_EVENT_IDX, otherwise NO_NOTIFY).
   */
  publish(): boolean {
    const previous = this.availIdx;
    this.availIdx = (this.availIdx + this.added) & 0xffff;
    this.added = 0;
    this.memory.writeU16(this.availRing + VIRTQ_AVAIL.IDX, this.availIdx);
    if (this.eventIdx) {
      return eventCrossed(this.memory.readU16(this.usedRing + availEventOffset(this.size)), this.availIdx, previous);
    }
    return (this.memory.readU16(this.usedRing + VIRTQ_USED.FLAGS) & VIRTQ_USED_F_NO_NOTIFY) === 0;
  }

  /** Used entries the device added since the last call; their descriptors and (once idle) buffers are freed. */
  takeUsed(): UsedEntry[] {
    const usedIdx = this.memory.readU16(this.usedRing + VIRTQ_USED.IDX);
    const entries: UsedEntry[] = [];
    for (; this.lastUsed !== usedIdx; this.lastUsed = (this.lastUsed + 1) & 0xffff) {
      const element = this.usedRing + VIRTQ_USED.RING + VIRTQ_USED.ELEM_SIZE * (this.lastUsed % this.size);
      const entry = {
        id: this.memory.readU32(element + VIRTQ_USED.ELEM_ID),
        len: this.memory.readU32(element + VIRTQ_USED.ELEM_LEN),
      };
      const descriptors = this.inFlight.get(entry.id);
      if (descriptors) {
        this.inFlight.delete(entry.id);
        this.freeDescriptors.push(...descriptors);
      }
      entries.push(entry);
    }
    if (this.inFlight.size === 0) this.dataNext = this.dataBase;
    return entries;
  }

  /** Writes one descriptor of the queue's table (`table = descTable`) or of an indirect table. */
  writeDescriptor(table: number, index: number, descriptor: RawDescriptor): void {
    const at = table + index * VIRTQ_DESC.SIZE;
    this.memory.writeU64(at + VIRTQ_DESC.ADDR, BigInt(descriptor.addr));
    this.memory.writeU32(at + VIRTQ_DESC.LEN, descriptor.len);
    this.memory.writeU16(at + VIRTQ_DESC.FLAGS, descriptor.flags);
    this.memory.writeU16(at + VIRTQ_DESC.NEXT, descriptor.next);
  }

  /** Sets the available idx directly (as a buggy or hostile driver could). */
  setAvailIdx(value: number): void {
    this.availIdx = value & 0xffff;
    this.added = 0;
    this.memory.writeU16(this.availRing + VIRTQ_AVAIL.IDX, this.availIdx);
  }

  setAvailFlags(flags: number): void {
    this.memory.writeU16(this.availRing + VIRTQ_AVAIL.FLAGS, flags);
  }

  /** used_event: the driver wants a notification once the used idx passes this value. */
  setUsedEvent(value: number): void {
    this.memory.writeU16(this.availRing + usedEventOffset(this.size), value);
  }

  /** Descriptors of the queue's table not used by a chain in flight. */
  get freeDescriptorCount(): number {
    return this.freeDescriptors.length;
  }

  /** Bytes left in the data area. */
  get dataRemaining(): number {
    return this.dataEnd - this.dataNext;
  }

  get usedIdx(): number {
    return this.memory.readU16(this.usedRing + VIRTQ_USED.IDX);
  }

  get usedFlags(): number {
    return this.memory.readU16(this.usedRing + VIRTQ_USED.FLAGS);
  }

  get availEvent(): number {
    return this.memory.readU16(this.usedRing + availEventOffset(this.size));
  }

  /** Takes `length` bytes of the data area; everything is given back once no chain is in flight. */
  allocate(length: number, align = 8): number {
    const addr = alignUp(this.dataNext, align);
    if (addr + length > this.dataEnd) {
      throw new Error(`VirtqDriver: data area exhausted (${length} bytes wanted at 0x${addr.toString(16)})`);
    }
    this.dataNext = addr + length;
    return addr;
  }

  private takeDescriptors(count: number): number[] {
    if (count > this.freeDescriptors.length) {
      throw new Error(`VirtqDriver: ${count} descriptors wanted, ${this.freeDescriptors.length} free`);
    }
    return this.freeDescriptors.splice(0, count);
  }
}

/** The guest memory of virtqueueFixture(): two regions with a hole between them. */
export const FIXTURE_REGIONS = [
  { guestBase: 0, size: 0x10000 },
  { guestBase: 0x20000, size: 0x10000 },
] as const;

/**
 * A driver and an enabled device-side queue over fresh guest memory (FIXTURE_REGIONS): the queue at 0x1000
 * (sizes up to 1024 fit), the driver's buffers in 0x8000-0x10000; 0x20000-0x30000 is left to the test.
 */
export function virtqueueFixture(options: { size?: number; eventIdx?: boolean; indirectDescriptors?: boolean } = {}): {
  memory: GuestMemory;
  driver: VirtqDriver;
  queue: SplitQueue;
} {
  const memory = GuestMemory.anonymous(FIXTURE_REGIONS);
  const size = options.size ?? 16;
  const driver = new VirtqDriver(memory, {
    size,
    queueBase: 0x1000,
    dataBase: 0x8000,
    dataSize: 0x8000,
    eventIdx: options.eventIdx ?? false,
  });
  const queue = new SplitQueue(memory, Math.max(size, 256));
  queue.configure(driver.queueConfig(options.indirectDescriptors ?? true));
  queue.enable();
  return { memory, driver, queue };
}

function linked(buffer: { addr: number; length: number; flags: number }, next: number, hasNext: boolean): RawDescriptor {
  return { addr: buffer.addr, len: buffer.length, flags: buffer.flags | (hasNext ? VIRTQ_DESC_F.NEXT : 0), next: hasNext ? next : 0 };
}

function alignUp(value: number, align: number): number {
  return Math.ceil(value / align) * align;
}
