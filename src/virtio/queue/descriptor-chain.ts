/**
 * Walks and validates one split-virtqueue descriptor chain (virtio 1.x §2.7.5): direct descriptors linked by
 * VIRTQ_DESC_F_NEXT, optionally ending in one VIRTQ_DESC_F_INDIRECT descriptor whose table holds the rest.
 *
 * The walk copies every descriptor out of guest memory once and checks it before anything uses it, so a driver
 * that rewrites descriptors later cannot change what was validated. Work is bounded: at most `queueSize`
 * direct descriptors plus at most one indirect table's entry count (itself at most 65536, all a 16-bit `next`
 * can name). Any violation is a VirtqueueError with a stable code; nothing outside guest memory is read.
 * Pure: no node:* imports.
 */
import type { GuestMemory } from '../../memory/guest-memory.ts';
import { VirtqueueError, type VirtqueueErrorCode } from './virtqueue-error.ts';
import { VIRTQ_DESC, VIRTQ_DESC_F } from './virtq-layout.ts';

/** A guest buffer named by a descriptor. */
export interface GuestBuffer {
  /** Guest-physical address. */
  readonly addr: number;
  /** Length in bytes (never 0: zero-length descriptors carry no data and are left out). */
  readonly length: number;
}

/** A validated chain: device-readable buffers, then device-writable ones, all inside guest memory. */
export interface DescriptorChain {
  /** Descriptor index of the chain's head: what `SplitQueue.addUsed` returns to the driver. */
  readonly headIndex: number;
  readonly readable: readonly GuestBuffer[];
  readonly writable: readonly GuestBuffer[];
  /** Total bytes of the readable buffers. */
  readonly readableLength: number;
  /** Total bytes of the writable buffers. */
  readonly writableLength: number;
}

/** Where the chain's descriptor table is and what the driver negotiated. */
export interface DescriptorTable {
  /** Guest-physical address of the queue's descriptor table (already checked to lie in guest memory). */
  readonly address: number;
  /** Queue size: entries of the table and the most direct descriptors one chain may use. */
  readonly queueSize: number;
  /** VIRTIO_F_INDIRECT_DESC was negotiated. */
  readonly indirectDescriptors: boolean;
}

/** Most entries an indirect table may have: `next` is 16 bits, so no chain can reach further. */
export const MAX_INDIRECT_TABLE_ENTRIES = 65536;

/** Largest total length of a chain (the spec forbids chains of 2^32 bytes or more; used lengths are u32). */
export const MAX_CHAIN_BYTES = 0xffff_ffff;

const U32_SPAN = 2 ** 32;

/** One descriptor as read from guest memory. */
interface RawDescriptor {
  addr: number;
  length: number;
  flags: number;
  next: number;
}

/**
 * Reads the chain starting at `headIndex` of `table` and validates it. Throws VirtqueueError (never anything
 * else for any guest-controlled content) when the chain breaks a rule of the spec.
 */
export function readDescriptorChain(memory: GuestMemory, table: DescriptorTable, headIndex: number): DescriptorChain {
  const readable: GuestBuffer[] = [];
  const writable: GuestBuffer[] = [];
  let readableLength = 0;
  let writableLength = 0;
  let tableAddress = table.address;
  let tableEntries = table.queueSize;
  let remaining = table.queueSize;
  let inIndirect = false;
  let seenWritable = false;
  let index = headIndex;
  const raw: RawDescriptor = { addr: 0, length: 0, flags: 0, next: 0 };

  for (;;) {
    if (!Number.isInteger(index) || index < 0 || index >= tableEntries) {
      throw chainError(
        'NEXT_OUT_OF_RANGE',
        `descriptor index ${index} is outside the ${inIndirect ? 'indirect' : 'descriptor'} table of ${tableEntries} entries`,
        headIndex,
      );
    }
    if (remaining === 0) {
      throw chainError(
        'CHAIN_LOOP',
        `the chain has more descriptors than its ${inIndirect ? 'indirect' : 'descriptor'} table's ${tableEntries} entries (a loop)`,
        headIndex,
      );
    }
    remaining--;
    readRawDescriptor(memory, tableAddress + index * VIRTQ_DESC.SIZE, raw);

    if ((raw.flags & VIRTQ_DESC_F.INDIRECT) !== 0) {
      checkIndirect(memory, table, raw, inIndirect, headIndex);
      tableAddress = raw.addr;
      tableEntries = raw.length / VIRTQ_DESC.SIZE;
      remaining = tableEntries;
      inIndirect = true;
      index = 0;
      continue;
    }

    if (!memory.isValid(raw.addr, raw.length)) {
      throw chainError('BUFFER_OUT_OF_RANGE', `buffer ${describeRange(raw.addr, raw.length)} is outside guest memory`, headIndex);
    }
    if ((raw.flags & VIRTQ_DESC_F.WRITE) !== 0) {
      seenWritable = true;
      writableLength += raw.length;
      if (raw.length > 0) writable.push({ addr: raw.addr, length: raw.length });
    } else {
      if (seenWritable) {
        throw chainError('READABLE_AFTER_WRITABLE', 'a device-readable descriptor follows a device-writable one', headIndex);
      }
      readableLength += raw.length;
      if (raw.length > 0) readable.push({ addr: raw.addr, length: raw.length });
    }
    if (readableLength + writableLength > MAX_CHAIN_BYTES) {
      throw chainError('CHAIN_TOO_LARGE', `the chain's buffers total more than ${MAX_CHAIN_BYTES} bytes`, headIndex);
    }
    if ((raw.flags & VIRTQ_DESC_F.NEXT) === 0) break;
    index = raw.next;
  }
  return { headIndex, readable, writable, readableLength, writableLength };
}

/** Checks an indirect descriptor (and its table) before the walk switches to the table. */
function checkIndirect(
  memory: GuestMemory,
  table: DescriptorTable,
  descriptor: RawDescriptor,
  inIndirect: boolean,
  headIndex: number,
): void {
  if (inIndirect) {
    throw chainError('NESTED_INDIRECT', 'an indirect table contains another indirect descriptor', headIndex);
  }
  if (!table.indirectDescriptors) {
    throw chainError('INDIRECT_NOT_NEGOTIATED', 'an indirect descriptor was used without VIRTIO_F_INDIRECT_DESC', headIndex);
  }
  if ((descriptor.flags & VIRTQ_DESC_F.NEXT) !== 0) {
    throw chainError('INDIRECT_WITH_NEXT', 'an indirect descriptor also sets VIRTQ_DESC_F_NEXT', headIndex);
  }
  const { length } = descriptor;
  if (length === 0 || length % VIRTQ_DESC.SIZE !== 0 || length / VIRTQ_DESC.SIZE > MAX_INDIRECT_TABLE_ENTRIES) {
    throw chainError(
      'BAD_INDIRECT_TABLE',
      `indirect table length ${length} is not a non-zero multiple of ${VIRTQ_DESC.SIZE} bytes up to ${MAX_INDIRECT_TABLE_ENTRIES} entries`,
      headIndex,
    );
  }
  if (!memory.isValid(descriptor.addr, length)) {
    throw chainError(
      'INDIRECT_TABLE_OUT_OF_RANGE',
      `indirect table ${describeRange(descriptor.addr, length)} is outside guest memory`,
      headIndex,
    );
  }
}

/**
 * Reads one descriptor. The caller has checked that it lies in guest memory (the queue's table when the queue
 * was enabled, an indirect table in checkIndirect). The 64-bit address becomes a number: above 2^53 it is no
 * longer exact, but then it is beyond any guest memory and fails the buffer's range check.
 */
function readRawDescriptor(memory: GuestMemory, address: number, out: RawDescriptor): void {
  out.addr = memory.readU32(address + VIRTQ_DESC.ADDR) + memory.readU32(address + VIRTQ_DESC.ADDR + 4) * U32_SPAN;
  out.length = memory.readU32(address + VIRTQ_DESC.LEN);
  out.flags = memory.readU16(address + VIRTQ_DESC.FLAGS);
  out.next = memory.readU16(address + VIRTQ_DESC.NEXT);
}

function describeRange(addr: number, length: number): string {
  return `0x${addr.toString(16)}+0x${length.toString(16)}`;
}

function chainError(code: VirtqueueErrorCode, problem: string, headIndex: number): VirtqueueError {
  return new VirtqueueError(code, `virtqueue chain at head ${headIndex}: ${problem}; the driver built an invalid request`);
}
