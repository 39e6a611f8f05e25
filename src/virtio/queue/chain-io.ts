/**
 * Byte-level access to a validated descriptor chain: a reader over its device-readable buffers and a writer
 * over its device-writable ones, each with a cursor. Besides copying, both hand out views of the guest buffers
 * for the next bytes so a device worker can do I/O straight into or out of guest memory (e.g.
 * `fs.readvSync(fd, writer.views(n))`): a buffer inside one memory chunk is a live view (zero copy); the rare
 * buffer that crosses a chunk boundary is a bounce copy, written back to guest memory by commit().
 * Pure: no node:* imports.
 */
import { GuestMemoryError, type GuestMemory } from '../../memory/guest-memory.ts';
import type { DescriptorChain, GuestBuffer } from './descriptor-chain.ts';
import { VirtqueueError } from './virtqueue-error.ts';

/** Position in a list of non-empty guest buffers, counted in bytes from the first. */
class BufferCursor {
  readonly length: number;
  private readonly buffers: readonly GuestBuffer[];
  private bufferIndex = 0;
  private bufferOffset = 0;
  private done = 0;

  constructor(buffers: readonly GuestBuffer[], length: number) {
    this.buffers = buffers;
    this.length = length;
  }

  get position(): number {
    return this.done;
  }

  get remaining(): number {
    return this.length - this.done;
  }

  /** The guest ranges holding the next `length` bytes (at most `remaining`), without moving. */
  ranges(length: number): GuestBuffer[] {
    const ranges: GuestBuffer[] = [];
    let index = this.bufferIndex;
    let offset = this.bufferOffset;
    for (let left = length; left > 0; ) {
      const buffer = this.buffers[index]!;
      const n = Math.min(left, buffer.length - offset);
      ranges.push({ addr: buffer.addr + offset, length: n });
      left -= n;
      offset += n;
      if (offset === buffer.length) {
        index++;
        offset = 0;
      }
    }
    return ranges;
  }

  /** Moves forward `length` bytes; BAD_CHAIN_CURSOR past the end. */
  advance(length: number, what: string): void {
    checkLength(length, this.remaining, what);
    for (let left = length; left > 0; ) {
      const buffer = this.buffers[this.bufferIndex]!;
      const n = Math.min(left, buffer.length - this.bufferOffset);
      left -= n;
      this.bufferOffset += n;
      if (this.bufferOffset === buffer.length) {
        this.bufferIndex++;
        this.bufferOffset = 0;
      }
    }
    this.done += length;
  }
}

/** Reads the device-readable part of a chain in order. */
export class ChainReader {
  private readonly memory: GuestMemory;
  private readonly cursor: BufferCursor;

  constructor(memory: GuestMemory, chain: DescriptorChain) {
    this.memory = memory;
    this.cursor = new BufferCursor(chain.readable, chain.readableLength);
  }

  /** Total device-readable bytes of the chain. */
  get length(): number {
    return this.cursor.length;
  }

  /** Bytes consumed so far. */
  get position(): number {
    return this.cursor.position;
  }

  get remaining(): number {
    return this.cursor.remaining;
  }

  /** Copies up to `target.length` bytes into `target` and returns how many there were. */
  readInto(target: Uint8Array): number {
    const length = Math.min(target.length, this.remaining);
    let done = 0;
    for (const range of this.cursor.ranges(length)) {
      this.memory.readInto(range.addr, target.subarray(done, done + range.length));
      done += range.length;
    }
    this.cursor.advance(length, 'read');
    return length;
  }

  /** Copies exactly `length` bytes out (e.g. a request header); SHORT_CHAIN if fewer remain. */
  readExact(length: number): Uint8Array {
    if (!Number.isSafeInteger(length) || length < 0 || length > this.remaining) {
      throw new VirtqueueError(
        'SHORT_CHAIN',
        `a ${length}-byte read needs more than the ${this.remaining} device-readable bytes left in the chain`,
      );
    }
    const bytes = new Uint8Array(length);
    this.readInto(bytes);
    return bytes;
  }

  /** Consumes `length` bytes without copying them (after using views()). */
  skip(length: number): void {
    this.cursor.advance(length, 'skip');
  }

  /**
   * Views of the next `maxLength` bytes (all that remain by default) for gathering writes (`fs.writevSync`);
   * the cursor does not move: skip() what was actually consumed. Views are live except for a buffer that
   * crosses a memory chunk, which comes as a copy.
   */
  views(maxLength = this.remaining): Uint8Array[] {
    return this.cursor
      .ranges(Math.min(maxLength, this.remaining))
      .map((range) => liveView(this.memory, range) ?? this.memory.read(range.addr, range.length));
  }
}

/** A view handed out by ChainWriter.views(): live, or a bounce buffer to copy to `addr` on commit. */
interface PendingView {
  readonly view: Uint8Array;
  readonly bounceTo: number | null;
}

/** Writes the device-writable part of a chain in order and counts what was written (the used length). */
export class ChainWriter {
  private readonly memory: GuestMemory;
  private readonly cursor: BufferCursor;
  private pending: PendingView[] = [];

  constructor(memory: GuestMemory, chain: DescriptorChain) {
    this.memory = memory;
    this.cursor = new BufferCursor(chain.writable, chain.writableLength);
  }

  /** Total device-writable bytes of the chain. */
  get length(): number {
    return this.cursor.length;
  }

  /** Bytes written so far: what the device reports with SplitQueue.addUsed(). */
  get written(): number {
    return this.cursor.position;
  }

  get remaining(): number {
    return this.cursor.remaining;
  }

  /** Copies as much of `data` as fits and returns how many bytes that was (views handed out before are dropped). */
  write(data: Uint8Array): number {
    this.pending = [];
    const length = Math.min(data.length, this.remaining);
    let done = 0;
    for (const range of this.cursor.ranges(length)) {
      this.memory.write(range.addr, data.subarray(done, done + range.length));
      done += range.length;
    }
    this.cursor.advance(length, 'write');
    return length;
  }

  /**
   * Views of the next `maxLength` writable bytes (all that remain by default) for scattering reads
   * (`fs.readvSync`). Fill them from the front, then commit() the number of bytes filled; views from an
   * earlier call are dropped.
   */
  views(maxLength = this.remaining): Uint8Array[] {
    this.pending = this.cursor.ranges(Math.min(maxLength, this.remaining)).map((range) => {
      const live = liveView(this.memory, range);
      return live ? { view: live, bounceTo: null } : { view: new Uint8Array(range.length), bounceTo: range.addr };
    });
    return this.pending.map((pending) => pending.view);
  }

  /** Records that the first `length` bytes of the last views() were filled (copying bounce buffers back). */
  commit(length: number): void {
    const viewed = this.pending.reduce((sum, pending) => sum + pending.view.length, 0);
    checkLength(length, viewed, 'commit');
    let left = length;
    for (const { view, bounceTo } of this.pending) {
      const n = Math.min(left, view.length);
      if (bounceTo !== null && n > 0) this.memory.write(bounceTo, view.subarray(0, n));
      left -= n;
    }
    this.pending = [];
    this.cursor.advance(length, 'commit');
  }
}

/** A live view of a range, or null when it crosses a memory chunk (validated chains lie in guest memory). */
function liveView(memory: GuestMemory, range: GuestBuffer): Uint8Array | null {
  try {
    return memory.slice(range.addr, range.length);
  } catch (error) {
    if (error instanceof GuestMemoryError && error.code === 'CROSSES_CHUNK') return null;
    throw error;
  }
}

function checkLength(length: number, available: number, what: string): void {
  if (!Number.isSafeInteger(length) || length < 0 || length > available) {
    throw new VirtqueueError('BAD_CHAIN_CURSOR', `a ${what} of ${length} bytes is more than the ${available} available`);
  }
}
